/* fuzz_ckptfile.c - libFuzzer harness: the joint checkpoint file parser (wire/ckptfile.c).
 *
 * Input: one control byte, then bytes. Control % 4:
 *   0: a whole joint file, checksums recomputed first (fuzz_ckf.h);
 *   1: a whole joint file as it is;
 *   2: a SERVER_STATE section alone (wire_ckf_state_*);
 *   3: a header region alone (wire_ckf_parse_header), its checksum recomputed.
 * A whole file goes the way a reader takes it: prefix, header, trailer,
 * every section's checksum, the SERVER_STATE entries. Whatever parses must
 * build again to the same bytes (header region, state section): the
 * builders refuse only what the parser refuses, and the format is canonical.
 */
#include "fuzz_ckf.h"

static void state(const uint8_t *p, size_t n)
{
	struct wire_ckf_state st;
	struct wire_ckf_state_builder b;
	struct wire_ckf_file f;
	uint32_t got = 0;
	uint8_t *o;
	int rc = wire_ckf_state_dec(p, n, &st);

	FUZZ_CHECK(rc == 0 || rc == WIRE_CKF_ESTATE, "wire_ckf_state_dec returned %d", rc);
	if (rc)
		return;
	o = malloc(n ? n : 1);
	FUZZ_CHECK(o != NULL, "out of memory");
	wire_ckf_state_begin(&b, o, n, st.epoch, st.prev_gen);
	while (wire_ckf_state_next(&st, &f) == 1) {
		FUZZ_CHECK(f.path.len == 0 || ((const uint8_t *)f.path.p >= p &&
					       (const uint8_t *)f.path.p + f.path.len <= p + n),
			   "a state entry's path points outside the section");
		FUZZ_CHECK(wire_ckf_state_add(&b, &f) == 0, "state entry %u does not build again", got);
		got++;
	}
	FUZZ_CHECK(got == st.count, "%u state entries walked, %u counted", got, st.count);
	FUZZ_CHECK(wire_ckf_state_end(&b) == (long)n && !memcmp(o, p, n),
		   "state section: decode -> build differs");
	free(o);
}

/* The header region of hs bytes at b parsed into h builds again to the same
 * bytes, but for the sections' reserved fields: CHECKPOINT.md has readers
 * ignore them and writers write 0, so the expected region has them zeroed
 * (and its checksum recomputed if that changed anything). */
static void header_again(const uint8_t *b, uint32_t hs, struct wire_ckf_header *h)
{
	uint8_t *o = malloc(hs), *want = malloc(hs);
	struct wire_ckf_header h2 = *h;
	/* prefix, job, gen, created, client arch/bo/page, server arch/bo/page, nsections */
	size_t table = WIRE_CKF_PREFIX + 2 + h->job.len + 8 + 8 + 4 + 2 + h->client_arch.len + 1 + 4 + 2 +
		       h->server_arch.len + 1 + 4 + 2;
	int zeroed = 0;

	FUZZ_CHECK(o && want, "out of memory");
	memcpy(want, b, hs);
	for (uint16_t i = 0; i < h->nsections; i++) {
		uint8_t *r = want + table + (size_t)i * WIRE_CKF_SECTION_SIZE + 28;

		FUZZ_CHECK(r + 8 <= want + hs - 8, "section table past the header region");
		for (int k = 0; k < 8; k++) {
			zeroed |= r[k] != 0;
			r[k] = 0;
		}
	}
	if (zeroed)
		put_be64(want + hs - 8, XXH64(want, hs - 8, 0));
	FUZZ_CHECK(wire_ckf_build_header(o, hs, &h2) == (long)hs, "a parsed header does not build again");
	FUZZ_CHECK(!memcmp(o, want, hs), "header: parse -> build differs");
	free(o);
	free(want);
}

static void whole(const uint8_t *b, size_t len)
{
	struct wire_ckf_header h;
	const struct wire_ckf_section *st;
	uint32_t hs;
	uint64_t fs;
	int rc = wire_ckf_prefix(b, len, &hs, &fs);

	if (rc)
		return;
	FUZZ_CHECK(hs >= WIRE_CKF_HEADER_MIN && hs <= WIRE_CKF_HEADER_MAX && hs % 8 == 0,
		   "prefix accepted header_size %u", hs);
	if (hs > len)
		return;
	rc = wire_ckf_parse_header(b, hs, len, &h);
	if (rc)
		return;
	header_again(b, hs, &h);
	for (uint16_t i = 0; i < h.nsections; i++) {
		const struct wire_ckf_section *s = &h.sect[i];

		FUZZ_CHECK(s->offset >= hs && s->offset <= len - WIRE_CKF_TRAILER &&
				   s->length <= len - WIRE_CKF_TRAILER - s->offset,
			   "section %u [%llu, +%llu) outside the file of %zu bytes", i,
			   (unsigned long long)s->offset, (unsigned long long)s->length, len);
	}
	if (wire_ckf_check_trailer(b + len - WIRE_CKF_TRAILER, WIRE_CKF_TRAILER, b, &h))
		return;
	for (uint16_t i = 0; i < h.nsections; i++)
		if (XXH64(b + h.sect[i].offset, (size_t)h.sect[i].length, 0) != h.sect[i].xxh64)
			return;
	st = wire_ckf_find(&h, WIRE_CKF_SERVER_STATE);
	FUZZ_CHECK(st && wire_ckf_find(&h, WIRE_CKF_CLIENT_IMAGE), "a parsed header lacks a section");
	state(b + st->offset, (size_t)st->length);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_ckf_header h;
	uint8_t *b;
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1;
	/* an exact copy: the fixups write, and ASan sees the true end */
	b = malloc(n ? n : 1);
	FUZZ_CHECK(b != NULL, "out of memory");
	memcpy(b, data + 1, n);
	switch (data[0] % 4) {
	case 0:
		fuzz_fix_joint(b, n, 0);
		/* fall through */
	case 1:
		whole(b, n);
		break;
	case 2:
		state(b, n);
		break;
	case 3:
		if (n >= WIRE_CKF_PREFIX)
			put_be64(b + 16, n + 8 * 1024); /* room for sections after it */
		if (n >= 8)
			put_be64(b + n - 8, XXH64(b, n - 8, 0));
		if (wire_ckf_parse_header(b, n, n + 8 * 1024, &h) == 0)
			header_again(b, (uint32_t)n, &h);
		break;
	}
	free(b);
	return 0;
}
