/* imgbuild.h - small process images built field by field (preload/IMAGE.md),
 * with knobs that break one rule each: shared by tests/unit/test_tool.c and
 * the fuzz seed generator tests/fuzz/mkseeds.c. Static functions only; the
 * includer provides <xxhash.h>, "img.h" and "wire.h". */
#ifndef CKPT_TESTS_IMGBUILD_H
#define CKPT_TESTS_IMGBUILD_H

#include <stdint.h>
#include <string.h>

#define PS 4096u
#define HOLE 0x3ffe00000000ull

struct ib {
	uint8_t b[1 << 16];
	size_t len;
};

static inline void put_cs(struct wire_wr *w, const char *s)
{
	wire_put_str(w, s, (uint32_t)strlen(s));
}

/* Append a section with the payload built in w (over buf). */
static inline void sec(struct ib *ib, uint32_t tag, const uint8_t *p, size_t n)
{
	struct wire_wr w;

	wire_wr_init(&w, ib->b + ib->len, IMG_SECTION_HDR);
	wire_put_u32(&w, tag);
	wire_put_u64(&w, n);
	memcpy(ib->b + ib->len + IMG_SECTION_HDR, p, n);
	ib->len += IMG_SECTION_HDR + n;
}

/* The footer over everything before it. */
static inline void footer(struct ib *ib)
{
	struct wire_wr w;
	uint64_t sum = XXH64(ib->b, ib->len, 0);

	wire_wr_init(&w, ib->b + ib->len, IMG_FOOTER_SIZE);
	wire_put_bytes(&w, IMG_END_MAGIC, 8);
	wire_put_u64(&w, ib->len);
	wire_put_u64(&w, sum);
	ib->len += IMG_FOOTER_SIZE;
}

/* Recompute the footer of a finished image after a change. */
static inline void refoot(uint8_t *b, size_t len)
{
	struct wire_wr w;

	wire_wr_init(&w, b + len - 16, 16);
	wire_put_u64(&w, len - IMG_FOOTER_SIZE);
	wire_put_u64(&w, XXH64(b, len - IMG_FOOTER_SIZE, 0));
}

/* Knobs for the rules broken on purpose. */
struct knobs {
	int dup_fd, share_later, overlap, run_outside, end_pages_off, bad_lz4, no_bt, empty_bt, swap_cpu_task;
	int bad_obj, unknown_tag, second_info, nregions_huge;
	int resume_nowhere, stack_readonly, special_in_hole, special_on_region, above_user_space, brk_disorder;
};

static inline void lz4_frame(struct wire_wr *w, uint64_t content)
{
	uint8_t f[15] = {0x04, 0x22, 0x4d, 0x18, 0x40 | 0x08 | 0x04, 0x70};

	for (int i = 0; i < 8; i++)
		f[6 + i] = (uint8_t)(content >> (8 * i)); /* little-endian, as LZ4 says */
	f[14] = 0x5a;                                     /* header checksum: not checked by the tool */
	wire_put_bytes(w, f, sizeof(f));
	wire_put_bytes(w, "\0\0\0\0", 4); /* end mark */
}

static inline void build(struct ib *ib, const struct knobs *k)
{
	static uint8_t p[1 << 15];
	struct wire_wr w;

	ib->len = 0;
	wire_wr_init(&w, ib->b, IMG_HEADER_SIZE);
	wire_put_bytes(&w, IMG_MAGIC, 8);
	wire_put_u32(&w, IMG_VERSION);
	wire_put_u32(&w, 0);
	ib->len = IMG_HEADER_SIZE;
	if (k->unknown_tag) { /* a later format's section: skipped */
		sec(ib, 77, (const uint8_t *)"later", 5);
	}
	/* INFO */
	wire_wr_init(&w, p, sizeof(p));
	put_cs(&w, "x86_64");
	wire_put_u32(&w, PS);
	put_cs(&w, "6.1.0");
	put_cs(&w, "#1 SMP");
	put_cs(&w, "2.36");
	put_cs(&w, "0.1.0");
	put_cs(&w, "host\x1b[2J");
	wire_put_u32(&w, 4242);
	wire_put_u32(&w, 4242);
	wire_put_s64(&w, 1700000000123456789ll);
	put_cs(&w, "/usr/bin/prog");
	put_cs(&w, "job1");
	wire_put_u32(&w, 10);
	sec(ib, IMG_INFO, p, wire_wr_len(&w));
	if (k->second_info)
		sec(ib, IMG_INFO, p, wire_wr_len(&w));
	/* CPU and TASK (possibly swapped) */
	for (int round = 0; round < 2; round++) {
		int cpu = (round == 0) != !!k->swap_cpu_task;

		wire_wr_init(&w, p, sizeof(p));
		if (cpu) {
			wire_put_u32(&w, 8);
			for (int i = 0; i < 6; i++)
				wire_put_u64(&w, 0x1000 + (uint64_t)i);
			wire_put_u64(&w, k->stack_readonly ? 0x402000 : 0x7ffd00001000); /* rsp */
			wire_put_u64(&w, k->resume_nowhere ? 0x500000 : 0x401000);      /* rip */
			wire_put_u64(&w, 0x601000);                                       /* fs: in the heap */
			wire_put_u64(&w, 0);
			wire_put_u32(&w, 23);
			for (int i = 0; i < 23; i++)
				wire_put_u64(&w, i == 16 ? 0x401234 : i == 15 ? 0x7ffd00001000 : (uint64_t)i);
			sec(ib, IMG_CPU, p, wire_wr_len(&w));
		} else {
			wire_put_u32(&w, (uint32_t)-1);
			for (int i = 0; i < 4; i++)
				wire_put_u64(&w, 0);
			wire_put_u32(&w, 0);
			wire_put_u32(&w, 0);
			for (int i = 0; i < 11; i++)
				wire_put_u64(&w, i == 4 ? (k->brk_disorder ? 0x622000 : 0x600000) : i == 5 ? 0x621000 : 0);
			wire_put_blob(&w, "0123456789abcdef", 16);
			wire_put_u32(&w, 022);
			put_cs(&w, "/work");
			put_cs(&w, "prog");
			put_cs(&w, "/usr/bin/prog");
			wire_put_u32(&w, 2);
			wire_put_u32(&w, 3);
			wire_put_u64(&w, 8 << 20);
			wire_put_u64(&w, UINT64_MAX);
			wire_put_u32(&w, 7);
			wire_put_u64(&w, 1024);
			wire_put_u64(&w, 4096);
			wire_put_u32(&w, 1);
			wire_put_u32(&w, 0);
			for (int i = 0; i < 4; i++)
				wire_put_u64(&w, 0);
			sec(ib, IMG_TASK, p, wire_wr_len(&w));
		}
	}
	/* SIGNALS */
	wire_wr_init(&w, p, sizeof(p));
	wire_put_u32(&w, 10);
	wire_put_u64(&w, 1ull << 1);
	wire_put_u64(&w, 0);
	wire_put_u64(&w, 0);
	wire_put_u32(&w, 2);
	wire_put_u64(&w, 0);
	wire_put_u32(&w, 2);
	wire_put_u32(&w, 2);
	wire_put_u64(&w, 1);
	for (int i = 0; i < 3; i++)
		wire_put_u64(&w, 0);
	wire_put_u32(&w, 10);
	wire_put_u64(&w, 0x7f0000002000);
	wire_put_u64(&w, 0x14000004);
	wire_put_u64(&w, 0);
	wire_put_u64(&w, ~0ull);
	sec(ib, IMG_SIGNALS, p, wire_wr_len(&w));
	/* FILES: 0 std, 3 a file, 5 shares 3, 4 remote */
	wire_wr_init(&w, p, sizeof(p));
	wire_put_u32(&w, 4);
	{
		struct {
			uint32_t fd;
			uint8_t kind;
			int32_t share;
			const char *path, *mount, *rel;
		} f[4] = {
			{0, IMG_FD_STD, -1, "pipe:[1]", "", ""},
			{3, IMG_FD_FILE, -1, "/work/out.txt", "", ""},
			{5, IMG_FD_FILE, 3, "/work/out.txt", "", ""},
			{4, IMG_FD_REMOTE, -1, "/data/in.dat", "/data", "in.dat"},
		};

		if (k->dup_fd)
			f[2].fd = 3;
		if (k->share_later)
			f[1].share = 5;
		for (int i = 0; i < 4; i++) {
			wire_put_u32(&w, f[i].fd);
			wire_put_u8(&w, f[i].kind);
			wire_put_u8(&w, 1);
			wire_put_u32(&w, 0x8401);
			wire_put_s64(&w, i ? 100 : -1);
			wire_put_u32(&w, (uint32_t)f[i].share);
			put_cs(&w, f[i].path);
			wire_put_s64(&w, 100);
			wire_put_s64(&w, 0);
			wire_put_u32(&w, 0100644);
			wire_put_u64(&w, 1);
			wire_put_u64(&w, 2);
			put_cs(&w, f[i].mount);
			put_cs(&w, f[i].rel);
		}
	}
	sec(ib, IMG_FILES, p, wire_wr_len(&w));
	/* BACKTRACE */
	if (!k->no_bt) {
		wire_wr_init(&w, p, sizeof(p));
		if (!k->empty_bt) {
			wire_put_u8(&w, IMG_BT_COMPLETE);
			wire_put_u32(&w, 2);
			put_cs(&w, "/usr/lib/libc.so.6");
			put_cs(&w, "/usr/bin/prog");
			wire_put_u32(&w, 3);
			wire_put_u64(&w, 0x7f0000003003);
			wire_put_u64(&w, 0x23);
			wire_put_u16(&w, 0);
			wire_put_u64(&w, 0xcf503);
			put_cs(&w, "clock_nanosleep");
			wire_put_u64(&w, 0x401234);
			wire_put_u64(&w, 0x44);
			wire_put_u16(&w, k->bad_obj ? 2 : 1);
			wire_put_u64(&w, 0x1234);
			put_cs(&w, "dive");
			wire_put_u64(&w, 0x12345);
			wire_put_u64(&w, 0);
			wire_put_u16(&w, 0xffff);
			wire_put_u64(&w, 0);
			put_cs(&w, "");
		}
		sec(ib, IMG_BACKTRACE, p, wire_wr_len(&w));
	}
	/* MEMMAP: [vdso], 3 regions */
	wire_wr_init(&w, p, sizeof(p));
	wire_put_u64(&w, HOLE);
	wire_put_u64(&w, IMG_HOLE_SIZE);
	wire_put_u32(&w, 1);
	put_cs(&w, "[vdso]");
	{
		uint64_t v = k->special_in_hole ? HOLE + 0x10000 : k->special_on_region ? 0x620000 : 0x7fff00000000;

		wire_put_u64(&w, v);
		wire_put_u64(&w, v + 0x2000);
	}
	wire_put_u64(&w, 0x1234);
	wire_put_u32(&w, k->nregions_huge ? 60000 : 3);
	{
		uint64_t r[3][2] = {{0x400000, 0x404000}, {0x600000, 0x621000}, {0x7ffd00000000, 0x7ffd00021000}};

		if (k->overlap)
			r[1][0] = 0x402000;
		if (k->above_user_space) {
			r[2][0] = IMG_X86_64_USER_TOP - 0x1000;
			r[2][1] = IMG_X86_64_USER_TOP + 0x20000;
		}
		for (int i = 0; i < 3; i++) {
			wire_put_u64(&w, r[i][0]);
			wire_put_u64(&w, r[i][1]);
			wire_put_u8(&w, i ? 3 : 5);
			wire_put_u8(&w, i ? IMG_ANON_PRIVATE : IMG_FILE_PRIVATE);
			wire_put_u8(&w, i == 1 ? IMG_RF_HEAP : i == 2 ? IMG_RF_STACK | IMG_RF_GROWSDOWN : 0);
			wire_put_u64(&w, 0);
			wire_put_u64(&w, 0x801);
			wire_put_u64(&w, i ? 0 : 77);
			wire_put_u64(&w, i ? 0 : 16384);
			wire_put_s64(&w, 0);
			put_cs(&w, i == 0 ? "/usr/bin/prog" : i == 1 ? "[heap]" : "[stack]");
		}
	}
	sec(ib, IMG_MEMMAP, p, wire_wr_len(&w));
	/* PAGES: region 0 pages 0-1, region 2 pages 3 and 30-31 */
	wire_wr_init(&w, p, sizeof(p));
	wire_put_u32(&w, 0);
	wire_put_u32(&w, 1);
	wire_put_u64(&w, 0);
	wire_put_u32(&w, k->run_outside ? 5 : 2);
	if (k->bad_lz4)
		wire_put_bytes(&w, "notlz4notlz4notlz4", 18);
	else
		lz4_frame(&w, (k->run_outside ? 5 : 2) * (uint64_t)PS);
	sec(ib, IMG_PAGES, p, wire_wr_len(&w));
	wire_wr_init(&w, p, sizeof(p));
	wire_put_u32(&w, 2);
	wire_put_u32(&w, 2);
	wire_put_u64(&w, 3);
	wire_put_u32(&w, 1);
	wire_put_u64(&w, 30);
	wire_put_u32(&w, 2);
	lz4_frame(&w, 3 * (uint64_t)PS);
	sec(ib, IMG_PAGES, p, wire_wr_len(&w));
	/* END */
	wire_wr_init(&w, p, sizeof(p));
	wire_put_u64(&w, (k->run_outside ? 8 : 5) + (uint64_t)k->end_pages_off);
	wire_put_u64(&w, 0x4000 + 0x21000 + 0x21000);
	sec(ib, IMG_END, p, wire_wr_len(&w));
	footer(ib);
}

#endif
