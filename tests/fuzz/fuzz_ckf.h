/* fuzz_ckf.h - make a mutated joint checkpoint file's checksums agree again.
 *
 * A joint file carries four kinds of XXH64 (header, each section, the
 * trailer, and the client image's footer inside its section); a random
 * mutation breaks one of them and the parser stops there. fuzz_fix_joint()
 * recomputes them as a writer would, so the fields behind the checksums
 * get fuzzed too; the harnesses also run inputs without it.
 */
#ifndef CKPT_FUZZ_CKF_H
#define CKPT_FUZZ_CKF_H

#include "ckptfile.h"
#include "fuzz.h"

static inline void fuzz_fix_joint(uint8_t *b, size_t len, int image_footer)
{
	struct wire_ckf_header h;
	uint32_t hs;
	uint64_t fs;

	if (wire_ckf_prefix(b, len, &hs, &fs) || hs > len)
		return;
	put_be64(b + 16, len); /* file_size: the prefix's last field */
	put_be64(b + hs - 8, XXH64(b, hs - 8, 0));
	if (wire_ckf_parse_header(b, hs, len, &h))
		return;
	for (uint16_t i = 0; i < h.nsections; i++) {
		struct wire_ckf_section *s = &h.sect[i];

		if (image_footer && s->type == WIRE_CKF_CLIENT_IMAGE)
			fuzz_fix_image(b + s->offset, (size_t)s->length);
		s->xxh64 = XXH64(b + s->offset, (size_t)s->length, 0);
	}
	/* the builder refuses what the parser refuses: it cannot fail here */
	FUZZ_CHECK(wire_ckf_build_header(b, hs, &h) == (long)hs, "a parsed header does not build again");
	wire_ckf_build_trailer(b + len - WIRE_CKF_TRAILER, b, &h);
}

#endif
