/* fuzz_frame.c - libFuzzer harness: a byte stream as a peer reads it from a socket.
 *
 * Input: one control byte, then the stream. Control bits 0-1 pick the
 * receiver's max frame (WIRE_MAX_FRAME, the server's minimum of 64 KiB,
 * 4 KiB, 64 bytes), bit 2 the direction:
 *   0: the server's path (server/session.c serve()): frame header, no reply
 *      flag, the whole frame present, HELLO first (its decoder, with the
 *      option list, and the session's own checks on it), then each request
 *      to the decoder server/fileops.c and server/store.c use for its type;
 *   1: the client's path (preload/conn.c, server/tool/client.c): replies,
 *      error replies to wire_dec_error, HELLO reply first.
 * Every decoded frame also goes through the invariants of fuzz_msgs.h, and
 * every accepted header must encode back to the same 16 bytes.
 */
#include "fuzz_msgs.h"

#define SRV_MIN_FRAME (64u * 1024u) /* server/session.h: the smallest max frame a HELLO may give */

static const uint32_t max_frames[4] = { WIRE_MAX_FRAME, SRV_MIN_FRAME, 4096u, 64u };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t max_frame;
	int client, hello_done = 0;
	const uint8_t *p;
	size_t rem;

	if (size < 1)
		return 0;
	max_frame = max_frames[data[0] & 3];
	client = !!(data[0] & 4);
	p = data + 1;
	rem = size - 1;
	while (rem >= WIRE_HDR_SIZE) {
		struct wire_hdr h, h2;
		uint8_t again[WIRE_HDR_SIZE];
		size_t i;
		int rc = wire_hdr_decode(p, WIRE_HDR_SIZE, max_frame, &h);

		FUZZ_CHECK(rc <= WIRE_OK && rc >= WIRE_ENOSPC, "wire_hdr_decode returned %d", rc);
		/* the server also decodes the header of a frame that is already
		 * buffered, with all the bytes it has: same verdict */
		FUZZ_CHECK(wire_hdr_decode(p, rem, max_frame, &h2) == rc, "header verdict depends on len");
		if (rc)
			break;
		FUZZ_CHECK(h.length >= WIRE_HDR_SIZE && h.length <= max_frame && wire_type_known(h.type) &&
				   !(h.flags & ~(WIRE_F_REPLY | WIRE_F_ERROR)) &&
				   (!(h.flags & WIRE_F_ERROR) || (h.flags & WIRE_F_REPLY)),
			   "header accepted: length %u type %u flags %#x", h.length, h.type, h.flags);
		wire_hdr_encode(again, &h);
		FUZZ_CHECK(!memcmp(again, p, WIRE_HDR_SIZE), "header decode -> encode differs");
		FUZZ_CHECK(wire_type_name(h.type) != NULL, "no name for type %u", h.type);
		if (!!(h.flags & WIRE_F_REPLY) != client)
			break; /* a protocol error: the receiver closes */
		if (h.length > rem)
			break; /* the stream ends in the middle of a frame */
		if (!hello_done && h.type != WIRE_HELLO)
			break; /* PROTOCOL.md 3.3: HELLO first, or no answer */
		if (fz_find(&h, &i) == 0)
			fz_run(i, h.type, p + WIRE_HDR_SIZE, h.length - WIRE_HDR_SIZE);
		if (!hello_done && !(h.flags & WIRE_F_ERROR)) {
			struct wire_hello m;

			/* what do_hello() refuses ends the session */
			if (wire_dec_hello(p + WIRE_HDR_SIZE, h.length - WIRE_HDR_SIZE, &m) ||
			    m.version < WIRE_PROTO_VERSION || m.max_frame < SRV_MIN_FRAME)
				break;
			hello_done = 1;
		} else if (!hello_done) {
			break; /* the HELLO was refused */
		}
		p += h.length;
		rem -= h.length;
	}
	return 0;
}
