/* SPDX-License-Identifier: MIT */
/*
 * pcv/error.h - PacketVelocity's error convention.
 *
 * Every int-returning pcv_ function returns 0 (or a non-negative count) on
 * success and a negative code on failure.  Codes are -errno where a POSIX
 * errno fits (-ENOENT, -EPERM, ...), plus a reserved range for our own,
 * listed once in PCV_ERRNO_MAP.  Detail ("bind(eth0): Operation not
 * permitted") lives in the handle: see pcv_get_error().
 */
#ifndef PCV_ERROR_H
#define PCV_ERROR_H

#define PCV_ERRBUF_SIZE 256

/* Our own codes, far from any errno value. */
#define PCV_ERRNO_MAP(XX)                                                     \
	XX(ECORRUPT, -4000, "data is corrupt or truncated")                   \
	XX(EFORMAT, -4001, "unsupported format or version")                   \
	XX(EBACKEND, -4002, "no capture backend claims this source")          \
	XX(ELINKTYPE, -4003, "unsupported link type")

enum pcv_errno {
#define PCV__ERR_ENUM(name, val, str) PCV_##name = (val),
	PCV_ERRNO_MAP(PCV__ERR_ENUM)
#undef PCV__ERR_ENUM
};

/*
 * pcv_strerror() - text for an error code (ours or -errno).
 * Return: a static string; never NULL.
 */
const char *pcv_strerror(int err);

/*
 * pcv_err_name() - symbolic name of an error code: "PCV_ECORRUPT", "EPERM".
 * Return: a static string; never NULL.
 */
const char *pcv_err_name(int err);

#endif /* PCV_ERROR_H */
