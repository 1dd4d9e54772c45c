# limits_raw.py MODE SOCKET [ARG] - abusive (and one patient) peers for
# tests/e2e/limits.sh, written from wire/PROTOCOL.md alone like
# wireorder_raw.py. Each mode prints PASS/FAIL lines; what the server logged
# is checked by the suite.
#
#   bigframe        HELLO, then a header announcing 2 MiB (over --max-frame): EOF
#   half SECS       HELLO, then 20 bytes of a 100-byte frame: EOF within SECS
#   halfhdr SECS    HELLO, then 7 bytes of a header: EOF within SECS
#   nohello SECS    connect and say nothing: EOF within SECS
#   idle SECS       HELLO, then nothing: EOF within SECS
#   sessions N      N sessions at once: some refused (EOF at HELLO), the rest
#                   served; prints "served K refused R"
#   slowpwrite T    a 512 KiB PWRITE (streamed by the server) sent in pieces
#                   over 0.6 x T seconds, three times in a row (longer than T
#                   in all): every one written; then one that stalls past T: EOF
#   bigtotal LIMIT  CKPT_PREPARE announcing LIMIT + 1 bytes: EFBIG, nothing
#                   kept, CKPT_DONE of it EFBIG too, the session still serves
import struct, sys, time

import rawwire
from rawwire import Reporter, s_

MODE, SOCK = sys.argv[1:3]
ARG = sys.argv[3] if len(sys.argv) > 3 else ""
OPEN, PWRITE, PING = 2, 5, 20
CKPT_PREPARE, CKPT_DONE = 32, 33
W_EFBIG = 17
O_RDWR, O_CREAT, O_TRUNC = 2, 0x10, 0x40
report = Reporter(MODE + ": ")


def Conn():
    return rawwire.Conn(SOCK)


def ping_ok(c):
    try:
        return c.call(PING, b"")[0] == 0
    except (EOFError, OSError):
        return False


def wait_closed(name, c, secs):
    t = c.closed_within(secs)
    report(t is not None, name, "still connected after %.1f s" % secs)


if MODE == "bigframe":
    c = Conn().hello(peer=b"limits_raw")
    c.sk.sendall(struct.pack(">IHHQ", 2 << 20, PWRITE, 0, 9))
    wait_closed("a header announcing 2 MiB: disconnected", c, 5)
elif MODE == "half":
    c = Conn().hello(peer=b"limits_raw")
    c.sk.sendall((struct.pack(">IHHQ", 100, PWRITE, 0, 9) + bytes(84))[:20])
    wait_closed("20 bytes of a 100-byte frame: disconnected", c, float(ARG))
elif MODE == "halfhdr":
    c = Conn().hello(peer=b"limits_raw")
    c.sk.sendall(b"\0\0\0\x20\0\x14\0")
    wait_closed("7 bytes of a frame header: disconnected", c, float(ARG))
elif MODE == "nohello":
    c = Conn()
    wait_closed("no HELLO: disconnected", c, float(ARG))
elif MODE == "idle":
    c = Conn().hello(peer=b"limits_raw")
    report(ping_ok(c), "a PING right after HELLO is answered")
    wait_closed("no request: disconnected", c, float(ARG))
elif MODE == "sessions":
    conns, served, refused = [], 0, 0
    for i in range(int(ARG)):
        try:
            conns.append(Conn().hello(peer=b"limits_raw"))
            served += 1
        except (EOFError, OSError, ValueError):
            refused += 1
    print("served %d refused %d" % (served, refused))
    report(all(ping_ok(c) for c in conns), "every session let in is served")
    for c in conns:
        c.sk.close()
elif MODE == "slowpwrite":
    T = float(ARG)
    c = Conn().hello(peer=b"limits_raw")
    err, b = c.call(OPEN, s_(b"slow.bin") + struct.pack(">II", O_RDWR | O_CREAT | O_TRUNC, 0o644))
    report(err == 0, "OPEN slow.bin", "wire errno %d" % err)
    h = struct.unpack(">Q", b[:8])[0]
    size, parts = 512 * 1024, 8
    for k in range(3):
        data = bytes((i * 31 + k) & 255 for i in range(size))
        rid = c.next_id
        c.next_id += 1
        frame = struct.pack(">IHHQ", 16 + 24 + size, PWRITE, 0, rid) + struct.pack(">QQII", h, k * size, 0, size) + data
        step = len(frame) // parts + 1
        for off in range(0, len(frame), step):
            c.sk.sendall(frame[off:off + step])
            time.sleep(0.6 * T / parts)
        try:
            err, b = c.reply(PWRITE, rid)
            ok = err == 0 and struct.unpack(">I", b[:4])[0] == size
            report(ok, "PWRITE %d sent slowly over %.1f s: written" % (k, 0.6 * T), "errno %d" % err)
        except (EOFError, OSError) as e:
            report(False, "PWRITE %d sent slowly over %.1f s: written" % (k, 0.6 * T), str(e))
            sys.exit(1)
    frame = struct.pack(">IHHQ", 16 + 24 + size, PWRITE, 0, 99) + struct.pack(">QQII", h, 0, 0, size) + bytes(size // 2)
    c.sk.sendall(frame)
    wait_closed("a PWRITE stalled half-way: disconnected", c, T + 5)
elif MODE == "bigtotal":
    limit = int(ARG)
    c = Conn().hello(b"rawbig", b"limits_raw")
    err, _ = c.call(CKPT_PREPARE, struct.pack(">QQQI", 1, 0, limit + 1, 100) + bytes(100))
    report(err == W_EFBIG, "PREPARE announcing %d bytes: EFBIG" % (limit + 1), "wire errno %d" % err)
    err, _ = c.call(CKPT_PREPARE, struct.pack(">QQQI", 1, 100, limit + 1, 100) + bytes(100))
    report(err == W_EFBIG, "its next chunk: EFBIG", "wire errno %d" % err)
    err, _ = c.call(CKPT_DONE, struct.pack(">QQQ", 1, 200, 0))
    report(err == W_EFBIG, "its CKPT_DONE: EFBIG", "wire errno %d" % err)
    report(ping_ok(c), "the session still serves")
    err, _ = c.call(CKPT_PREPARE, struct.pack(">QQQI", 2, 0, 100, 100) + bytes(100))
    report(err == 0, "a small image of the next generation is taken", "wire errno %d" % err)
else:
    sys.exit("unknown mode " + MODE)
sys.exit(1 if report.fails else 0)
