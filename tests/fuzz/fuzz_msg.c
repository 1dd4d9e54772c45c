/* fuzz_msg.c - libFuzzer harness: every request and reply decoder of wire/.
 *
 * Input: one selector byte, then a message payload (the frame minus its
 * header). The selector picks one of the decoders a peer uses, every
 * request and every reply of PROTOCOL.md plus the error reply, so each
 * decoder gets its share of the inputs; fuzz_msgs.h checks the codec's
 * promises (canonical round trip, fields inside the payload, error codes).
 */
#include "fuzz_msgs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fz_run(data[0] % FZ_NDECS, WIRE_OPEN, data + 1, size - 1);
	return 0;
}
