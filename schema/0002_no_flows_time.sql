-- SPDX-License-Identifier: MIT
--
-- 0002_no_flows_time.sql - drop the flows_time index (docs/index-schema.md).
--
-- No query used it: pcv-query narrows by time through segments and blocks,
-- and a flow row's time range needs both first_ns and last_ns, which one
-- index on first_ns cannot bound.  It cost every flow insert and every
-- update of first_ns (about 13 % of a flow commit, bench/bench-index.c).

DROP INDEX IF EXISTS flows_time;
DELETE FROM sqlite_stat1 WHERE tbl = 'flows' AND idx = 'flows_time';
