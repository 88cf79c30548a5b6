// SPDX-License-Identifier: MIT
/*
 * error.c - names and texts of PacketVelocity's error codes (pcv/error.h).
 */
#include <string.h>

#include "pcv/error.h"

const char *pcv_strerror(int err)
{
	switch (err) {
#define PCV__ERR_STR(name, val, str) \
	case PCV_##name:             \
		return str;
		PCV_ERRNO_MAP(PCV__ERR_STR)
#undef PCV__ERR_STR
	case 0:
		return "success";
	default:
		return err < 0 ? strerror(-err) : "unknown error";
	}
}

const char *pcv_err_name(int err)
{
	switch (err) {
#define PCV__ERR_NAME(name, val, str) \
	case PCV_##name:              \
		return "PCV_" #name;
		PCV_ERRNO_MAP(PCV__ERR_NAME)
#undef PCV__ERR_NAME
	case 0:
		return "OK";
	default: {
		const char *n = err < 0 ? strerrorname_np(-err) : NULL;

		return n ? n : "UNKNOWN";
	}
	}
}
