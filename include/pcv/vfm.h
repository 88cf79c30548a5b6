/* SPDX-License-Identifier: MIT */
/*
 * pcv/vfm.h - VFM, the seed's packet filter VM: bytecode, verifier,
 * interpreter with a per-instance flow table, assembler, disassembler and
 * the VFLisp compiler.
 *
 * Compatible with upstream VelocityFilterMachine where upstream works
 * (../shared/specs/vfm.md), fixed where it does not (spec §8).  Bytecode
 * is upstream's raw, headerless instruction stream in the HEAD numbering,
 * or the legacy numbering when asked for explicitly (it is never guessed).
 *
 * A program runs on a frame that starts at the Ethernet header.  The
 * result is a full 64-bit value; the default decision accepts a packet
 * when the program ran without error and returned non-zero.
 */
#ifndef PCV_VFM_H
#define PCV_VFM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes, HEAD numbering (spec §1.3).  Values 0x41 and up are ours. */
enum pcv_vfm_op {
	PCV_VFM_LD8 = 0x00,
	PCV_VFM_LD16 = 0x01,
	PCV_VFM_LD32 = 0x02,
	PCV_VFM_LD64 = 0x03,
	PCV_VFM_PUSH = 0x04,
	PCV_VFM_POP = 0x05,
	PCV_VFM_DUP = 0x06,
	PCV_VFM_SWAP = 0x07,
	PCV_VFM_ADD = 0x08,
	PCV_VFM_SUB = 0x09,
	PCV_VFM_MUL = 0x0a,
	PCV_VFM_DIV = 0x0b,
	PCV_VFM_AND = 0x0c,
	PCV_VFM_OR = 0x0d,
	PCV_VFM_XOR = 0x0e,
	PCV_VFM_AND32 = 0x0f, /* invalid, as upstream */
	PCV_VFM_SHL = 0x10,
	PCV_VFM_SHR = 0x11,
	PCV_VFM_JMP = 0x12,
	PCV_VFM_JEQ = 0x13,
	PCV_VFM_JNE = 0x14,
	PCV_VFM_JGT = 0x15,
	PCV_VFM_JLT = 0x16,
	PCV_VFM_RET = 0x17,
	PCV_VFM_HASH5 = 0x18,
	PCV_VFM_CSUM = 0x19,
	PCV_VFM_PARSE = 0x1a,
	PCV_VFM_FLOW_LOAD = 0x1b,
	PCV_VFM_FLOW_STORE = 0x1c,
	PCV_VFM_JGE = 0x1d,
	PCV_VFM_JLE = 0x1e,
	PCV_VFM_NOT = 0x1f,
	PCV_VFM_NEG = 0x20,
	PCV_VFM_MOD = 0x21,
	PCV_VFM_EQ = 0x22,
	PCV_VFM_NE = 0x23,
	PCV_VFM_GT = 0x24,
	PCV_VFM_LT = 0x25,
	PCV_VFM_GE = 0x26,
	PCV_VFM_LE = 0x27,
	PCV_VFM_LD128 = 0x28,
	PCV_VFM_PUSH128 = 0x29,
	PCV_VFM_EQ128 = 0x2a,
	PCV_VFM_NE128 = 0x2b,
	PCV_VFM_GT128 = 0x2c,
	PCV_VFM_LT128 = 0x2d,
	PCV_VFM_GE128 = 0x2e,
	PCV_VFM_LE128 = 0x2f,
	PCV_VFM_AND128 = 0x30,
	PCV_VFM_OR128 = 0x31,
	PCV_VFM_XOR128 = 0x32,
	PCV_VFM_JEQ128 = 0x33,
	PCV_VFM_JNE128 = 0x34,
	PCV_VFM_JGT128 = 0x35,
	PCV_VFM_JLT128 = 0x36,
	PCV_VFM_JGE128 = 0x37,
	PCV_VFM_JLE128 = 0x38,
	PCV_VFM_IP_VER = 0x39,
	PCV_VFM_IPV6_EXT = 0x3a,
	PCV_VFM_HASH6 = 0x3b,
	/* 0x3c..0x40: upstream's unimplemented opcodes, invalid here too. */
	/* PacketVelocity extensions (upstream rejects them). */
	PCV_VFM_FIELD = 0x41,     /* imm8 selector: a dissector field */
	PCV_VFM_FLOW_HASH = 0x42, /* symmetric flow hash, 0 without IP */
	PCV_VFM_OP_MAX = 0x43,
};

/* PCV_VFM_FIELD selectors: version-, VLAN- and IHL-aware values from
 * pcv_dissect() on the frame (0 when absent). */
enum pcv_vfm_field {
	PCV_VFM_F_L4_PROTO = 0,    /* IP protocol after IPv6 ext headers */
	PCV_VFM_F_L4_SPORT = 1,    /* TCP/UDP/SCTP source port */
	PCV_VFM_F_L4_DPORT = 2,
	PCV_VFM_F_TCP_FLAGS = 3,
	PCV_VFM_F_VLAN = 4,        /* outermost VLAN id */
	PCV_VFM_F_IP_VERSION = 5,  /* 4, 6 or 0 */
	PCV_VFM_F_FRAGMENT = 6,    /* 1 for any IP fragment */
	PCV_VFM_F_MAX = 7,
};

enum pcv_vfm_numbering {
	PCV_VFM_HEAD = 0,   /* upstream since 2025-07-25 (AND32 inserted) */
	PCV_VFM_LEGACY = 1, /* upstream before: every opcode >= SHL is one lower */
};

/* The decision rule: which (status, result) pairs accept a packet. */
enum pcv_vfm_decision {
	PCV_VFM_NONZERO = 0, /* no error and result != 0 */
	PCV_VFM_PV_COMPAT,   /* no error and (int32_t)low 32 bits > 0 (old PV) */
};

/* Run status of one packet.  Errors abort the program; they are counted
 * apart from rejections. */
enum pcv_vfm_status {
	PCV_VFM_OK = 0,
	PCV_VFM_E_BOUNDS = -1,      /* load past the captured length */
	PCV_VFM_E_LIMIT = -2,       /* instruction budget exhausted */
	PCV_VFM_E_OVERFLOW = -3,    /* stack overflow (unverified programs) */
	PCV_VFM_E_UNDERFLOW = -4,   /* stack underflow (unverified programs) */
	PCV_VFM_E_OPCODE = -5,      /* invalid opcode (unverified programs) */
	PCV_VFM_E_DIVZERO = -6,     /* DIV or MOD by zero */
	PCV_VFM_E_PROGRAM = -7,     /* ran off the end (unverified programs) */
};

#define PCV_VFM_MAX_PROGRAM 65536
#define PCV_VFM_STACK 255   /* live 64-bit values */
#define PCV_VFM_INSN_LIMIT 10000

struct pcv_vfm_opts {
	enum pcv_vfm_numbering numbering;
	enum pcv_vfm_decision decision;
	bool allow_loops;        /* accept backward jumps (budget still applies) */
	uint32_t flow_entries;   /* flow table size (power of two); 0: 65536 */
	uint64_t flow_ttl_ns;    /* entries idle longer are gone; 0: 300 s */
};

struct pcv_vfm_stats {
	uint64_t packets;  /* programs run */
	uint64_t accepted;
	uint64_t rejected; /* ran cleanly, decision said no */
	uint64_t errors;   /* aborted; also rejected, counted here only */
	uint64_t errors_by_kind[8]; /* indexed by -status */
	uint64_t flow_entries, flow_evictions, flow_expired;
};

struct pcv_vfm;

/* pcv_vfm_opts_init() - HEAD numbering, NONZERO, no loops, 65536 flows,
 * 300 s TTL. */
void pcv_vfm_opts_init(struct pcv_vfm_opts *o);

/*
 * pcv_vfm_verify() - check bytecode without loading it.
 * Return: 0, or -EINVAL with "offset N: rule broken" in @errbuf
 * (PCV_ERRBUF_SIZE bytes).
 */
int pcv_vfm_verify(const uint8_t *code, size_t len,
		   const struct pcv_vfm_opts *opts, char *errbuf);

/*
 * pcv_vfm_load() - verify and load a program (it is copied) into a new
 * instance with its own flow table.  Bytecode in the legacy numbering is
 * translated to HEAD on load.
 * Return: 0, -EINVAL (errbuf says why and where), -ENOMEM.
 */
int pcv_vfm_load(struct pcv_vfm **vmp, const uint8_t *code, size_t len,
		 const struct pcv_vfm_opts *opts, char *errbuf);

void pcv_vfm_free(struct pcv_vfm *vm);

/*
 * pcv_vfm_run() - run the program on one frame.  @ts_ns is the packet
 * time, used by the flow table's expiry.  *result gets the returned value.
 * Return: PCV_VFM_OK or a negative enum pcv_vfm_status.
 */
int pcv_vfm_run(struct pcv_vfm *vm, const uint8_t *pkt, uint32_t caplen,
		uint64_t ts_ns, uint64_t *result);

/*
 * pcv_vfm_match() - run and decide, counting in the stats.
 * Return: true to accept the packet.
 */
bool pcv_vfm_match(struct pcv_vfm *vm, const uint8_t *pkt, uint32_t caplen,
		   uint64_t ts_ns);

void pcv_vfm_get_stats(const struct pcv_vfm *vm, struct pcv_vfm_stats *st);

/* pcv_vfm_status_name() - "bounds", "limit", ... for a status. */
const char *pcv_vfm_status_name(int status);

/*
 * pcv_vfm_asm() - assemble .vfm/.vfasm text (spec §4, plus our mnemonics
 * for EQ..LE, the 128-bit ops, IP_VER, IPV6_EXT, HASH6, FIELD and
 * FLOW_HASH).  *out is malloc'd; free() it.
 * Return: 0, or -EINVAL with "LINE:COL: message" in @errbuf.
 */
int pcv_vfm_asm(const char *src, uint8_t **out, size_t *outlen,
		char *errbuf);

/*
 * pcv_vfm_dis() - disassemble to text that pcv_vfm_asm() reassembles to
 * the same bytes (jumps become labels).  *text is malloc'd.
 * Return: 0, or -EINVAL for bytes that do not decode.
 */
int pcv_vfm_dis(const uint8_t *code, size_t len, enum pcv_vfm_numbering num,
		char **text, char *errbuf);

/*
 * pcv_vfl_compile() - compile a VFLisp expression (spec §5 with the fixes
 * of §8 items 21-25, and our extensions) to HEAD bytecode.  *out is
 * malloc'd.
 * Return: 0, or -EINVAL with "COL: message" in @errbuf.
 */
int pcv_vfl_compile(const char *src, uint8_t **out, size_t *outlen,
		    char *errbuf);

#endif /* PCV_VFM_H */
