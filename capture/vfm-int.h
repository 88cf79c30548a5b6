/* SPDX-License-Identifier: MIT */
/*
 * vfm-int.h - what capture/vfm.c, vfm-verify.c and vfm-asm.c share: the
 * opcode table, selector names, the legacy-numbering translation and the
 * verifier entry the loader uses.  Not API: nothing outside capture/
 * includes this file.
 */
#ifndef PCV_VFM_INT_H
#define PCV_VFM_INT_H

#include "pcv/vfm.h"


/* Operand formats. */
enum pcv__vfm_fmt {
	PCV__VFM_NONE = 0, /* the opcode alone */
	PCV__VFM_OFF16,    /* LE u16 packet offset (loads) */
	PCV__VFM_IMM64,    /* LE u64 (PUSH) */
	PCV__VFM_IMM128,   /* 16 bytes in network order (PUSH128) */
	PCV__VFM_REL16,    /* LE i16 displacement from the next instruction */
	PCV__VFM_SEL8,     /* u8 selector (IPV6_EXT, FIELD) */
};

/* struct pcv__vfm_opinfo.flow */
#define PCV__VFM_JMP 1  /* unconditional jump: no fall-through */
#define PCV__VFM_CJMP 2 /* conditional jump */
#define PCV__VFM_RET 4  /* ends the program */

struct pcv__vfm_opinfo {
	const char *name; /* assembler mnemonic */
	uint8_t fmt;      /* enum pcv__vfm_fmt */
	uint8_t size;     /* bytes, opcode included */
	uint8_t pop;      /* 64-bit slots it needs and removes */
	uint8_t push;     /* 64-bit slots it adds */
	uint8_t ldsize;   /* packet bytes a load reads; 0 for the rest */
	uint8_t flow;     /* PCV__VFM_JMP, _CJMP, _RET or 0 */
};

/* What the verifier learnt about a program it accepted. */
struct pcv__vfm_proginfo {
	uint32_t ninsns;   /* instructions in the program */
	uint32_t maxdepth; /* deepest stack, in 64-bit slots */
	bool budget;       /* a run may exceed PCV_VFM_INSN_LIMIT (loops, or a
			    * path longer than that): count at run time */
	bool flow;         /* uses FLOW_LOAD or FLOW_STORE */
};

/* pcv__vfm_op() - the HEAD opcode's description, NULL if it is invalid. */
const struct pcv__vfm_opinfo *pcv__vfm_op(unsigned op);

/* pcv__vfm_sel_name() - name of selector @sel of IPV6_EXT or FIELD
 * (@op), or NULL when the verifier does not know it. */
const char *pcv__vfm_sel_name(unsigned op, unsigned sel);

/*
 * pcv__vfm_from_legacy() - rewrite legacy opcode bytes in @code to HEAD
 * in place, decoding linearly so that operands are left alone.
 * Return: 0, or -EINVAL ("offset N: ...") at the first byte that does not
 * decode; the bytes before it are already rewritten.
 */
int pcv__vfm_from_legacy(uint8_t *code, size_t len, char *errbuf);

/*
 * pcv__vfm_check() - pcv_vfm_verify() on HEAD bytecode, filling @info
 * (may be NULL) on success.
 */
int pcv__vfm_check(const uint8_t *code, size_t len, bool allow_loops,
		   struct pcv__vfm_proginfo *info, char *errbuf);

#endif /* PCV_VFM_INT_H */
