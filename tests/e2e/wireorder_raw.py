# wireorder_raw.py PHASE SOCKET ARCH ROOT - a client written from wire/PROTOCOL.md
# alone (no shim, no wire/ code) that talks to the server on SOCKET, a server of
# ARCH with a --state-dir exporting ROOT, and checks what it answers: the HELLO
# reply names ARCH and its byte order, generation numbers above 2^32 (and one
# whose bytes are all different) come back unchanged, errors carry the wire's
# errno numbers, an image sent in chunks comes back byte for byte, and files
# the job changed (at offsets over 4 GiB too) are rolled back. PHASE: write
# (generations and changes), read (rollbacks; may be another server, of another
# architecture, on the same root and state directory) or both. Prints PASS/FAIL.
import ctypes, os, random, socket, struct, sys, time

PHASE, SOCK, ARCH, ROOT = sys.argv[1:5]
BIG_ENDIAN_ARCHES = {"s390x", "ppc64", "sparc64", "mips64"}
fails = 0

# Message types and flags (PROTOCOL.md 2, 4.1); errnos of table 6.1.
HELLO, OPEN, CLOSE, PWRITE = 1, 2, 3, 5
CKPT_PREPARE, CKPT_DONE, CKPT_COMMIT, CKPT_ABORT = 32, 33, 34, 35
ROLLBACK_QUERY, ROLLBACK, IMAGE_READ, JOB_LIST = 64, 65, 66, 67
F_REPLY, F_ERROR = 1, 2
W_EBUSY, W_EINVAL, W_ENOENT = 7, 20, 30
UNKNOWN_TOTAL = (1 << 64) - 1

xxh = ctypes.CDLL("libxxhash.so.0")
xxh.XXH64.restype = ctypes.c_uint64
xxh.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]


def report(ok, name, why=""):
    global fails
    if ok:
        print("PASS %s: %s" % (PHASE, name))
    else:
        fails += 1
        print("FAIL %s: %s: %s" % (PHASE, name, why))


def expect(name, got, want):
    report(got == want, name, "got %r, want %r" % (got, want))


def s_(b):
    return struct.pack(">H", len(b)) + b


class Conn:
    def __init__(self, path):
        self.sk = socket.socket(socket.AF_UNIX)
        self.sk.settimeout(60)
        self.sk.connect(path)
        self.next_id = 0x0102030405060708  # request ids are echoed: check all 8 bytes

    def recvn(self, n):
        b = b""
        while len(b) < n:
            c = self.sk.recv(n - len(b))
            if not c:
                raise EOFError("the server closed the connection")
            b += c
        return b

    def call(self, typ, payload):
        """Returns (errno or 0, reply payload)."""
        rid = self.next_id
        self.next_id += 0x0100000001
        self.sk.sendall(struct.pack(">IHHQ", 16 + len(payload), typ, 0, rid) + payload)
        length, rtyp, flags, rrid = struct.unpack(">IHHQ", self.recvn(16))
        body = self.recvn(length - 16)
        if rtyp != typ or rrid != rid or not flags & F_REPLY:
            raise ValueError("reply type %d id %#x flags %#x to request %d id %#x" % (rtyp, rrid, flags, typ, rid))
        if flags & F_ERROR:
            (err,) = struct.unpack(">H", body[:2])
            return err, body
        return 0, body


def hello(job):
    """A session of the job; checks the HELLO reply."""
    c = Conn(SOCK)
    p = struct.pack(">HBIIQI", 1, 1, 4096, os.getpid(), 0, 4259840) + s_(b"x86_64") + s_(job) + s_(b"wireorder_raw")
    err, body = c.call(HELLO, p)
    if err:
        raise ValueError("HELLO refused: errno %d" % err)
    ver, bo, page, pid, sess, maxf = struct.unpack(">HBIIQI", body[:23])
    i = 23
    fields = []
    for _ in range(3):
        (n,) = struct.unpack(">H", body[i:i + 2])
        fields.append(body[i + 2:i + 2 + n].decode())
        i += 2 + n
    expect("HELLO reply: version 1", ver, 1)
    expect("HELLO reply: the server's architecture", fields[0], ARCH)
    expect("HELLO reply: the server's byte order", bo, 2 if ARCH in BIG_ENDIAN_ARCHES else 1)
    expect("HELLO reply: the job is kept", fields[1], job.decode())
    report(sess != 0 and 4096 <= maxf <= 4259840 and pid == 0, "HELLO reply: session id, max frame, pid 0",
           "session %d max_frame %d pid %d" % (sess, maxf, pid))
    return c


G1 = (1 << 32) + 5         # above 2^32
G2 = 0x0102030405060708    # every byte different: any reordering changes it
G3 = 0x0203040506070809    # never prepared
rnd = random.Random(5)
img1 = bytes((i * 7 + 3) & 255 for i in range(70000))
img2 = bytes(rnd.getrandbits(8) for _ in range(5 * 4096 + 17))
KEEP = bytes((i * 13) & 255 for i in range(100000))  # u/keep.bin before generation 1
GiB = 1 << 30
O_RDWR, O_CREAT = 2, 0x10  # PROTOCOL.md 6.2


def prepare(c, gen, img, total, chunk):
    for off in range(0, len(img), chunk):
        part = img[off:off + chunk]
        err, _ = c.call(CKPT_PREPARE, struct.pack(">QQQI", gen, off, total, len(part)) + part)
        if err:
            return err
    return 0


def done(c, gen, img):
    err, b = c.call(CKPT_DONE, struct.pack(">QQQ", gen, len(img), xxh.XXH64(img, len(img), 0)))
    return err, (struct.unpack(">QQ", b) if not err else None)


def fopen(c, path, flags, mode=0):
    err, b = c.call(OPEN, s_(path.encode()) + struct.pack(">II", flags, mode))
    if err:
        raise ValueError("OPEN %s: wire errno %d" % (path, err))
    return struct.unpack(">Q", b[:8])[0]


def pwrite(c, h, off, data):
    err, b = c.call(PWRITE, struct.pack(">QQII", h, off, 0, len(data)) + data)
    return err, (struct.unpack(">IQ", b) if not err else None)


def query(c):
    err, b = c.call(ROLLBACK_QUERY, b"")
    if err:
        return err
    (n,) = struct.unpack(">I", b[:4])
    return [struct.unpack(">QBQ", b[4 + 17 * k:21 + 17 * k]) for k in range(n)]


def keep():
    with open(os.path.join(ROOT, "u", "keep.bin"), "rb") as f:
        return f.read(30), os.fstat(f.fileno()).st_size


def phase_write():
    """Generation 1 (committed), changes to the job's files, generation 2
    (prepared), more changes; PREFIX names the server that wrote them."""
    c = hello(b"wireorder-gen")
    expect("CKPT_PREPARE of generation 2^32+5 in 3 chunks", prepare(c, G1, img1, len(img1), 30000), 0)
    err, r = done(c, G1, img1)
    expect("CKPT_DONE of generation 2^32+5", err, 0)
    if r:
        expect("CKPT_DONE reply: the generation", r[0], G1)
        report(r[1] > len(img1), "CKPT_DONE reply: the joint file's size", "file_size %d" % r[1])
    expect("CKPT_COMMIT 2^32+5", c.call(CKPT_COMMIT, struct.pack(">Q", G1))[0], 0)
    h = fopen(c, "u/keep.bin", O_RDWR)
    expect("PWRITE over old bytes", pwrite(c, h, 10, b"CHANGED"), (0, (7, 17)))
    expect("PWRITE at 5 GiB: written and end", pwrite(c, h, 5 * GiB, b"far"), (0, (3, 5 * GiB + 3)))
    n = fopen(c, "u/new.txt", O_RDWR | O_CREAT, 0o640)
    expect("PWRITE to a new file", pwrite(c, n, 0, b"new")[0], 0)
    expect("CLOSE", (c.call(CLOSE, struct.pack(">Q", h))[0], c.call(CLOSE, struct.pack(">Q", n))[0]), (0, 0))
    expect("CKPT_PREPARE of an unknown total", prepare(c, G2, img2, UNKNOWN_TOTAL, 4096), 0)
    err, r = done(c, G2, img2)
    expect("CKPT_DONE of generation 0x0102030405060708", err, 0)
    if r:
        expect("CKPT_DONE reply: the generation 0x0102030405060708", r[0], G2)
    h = fopen(c, "u/keep.bin", O_RDWR)
    pwrite(c, h, 20, b"AFTER-G2")
    c.call(CLOSE, struct.pack(">Q", h))
    expect("CKPT_PREPARE of an older generation: EINVAL (wire 20)",
           prepare(c, G1 - 1, b"old", 3, 4096) or done(c, G1 - 1, b"old")[0], W_EINVAL)
    expect("CKPT_COMMIT of a missing generation: ENOENT (wire 30)",
           c.call(CKPT_COMMIT, struct.pack(">Q", G3))[0], W_ENOENT)
    expect("ROLLBACK_QUERY: both generations, states and sizes", query(c),
           [(G1, 2, len(img1)), (G2, 1, len(img2))])
    err, b = c.call(JOB_LIST, b"")
    jobs = []
    if not err:
        (n,) = struct.unpack(">I", b[:4])
        i = 4
        for _ in range(n):
            (k,) = struct.unpack(">H", b[i:i + 2])
            jobs.append(b[i + 2:i + 2 + k].decode())
            i += 2 + k
    report("wireorder-gen" in jobs, "JOB_LIST names the job", "got %r (errno %d)" % (jobs, err))
    c.sk.close()


def rollback(c, gen, img):
    for _ in range(50):  # the writer's session may still be ending
        err, b = c.call(ROLLBACK, struct.pack(">Q", gen))
        if err != W_EBUSY:
            break
        time.sleep(0.1)
    expect("ROLLBACK to %#x" % gen, err, 0)
    if not err:
        expect("ROLLBACK reply to %#x: generation, image size and XXH64" % gen, struct.unpack(">QQQ", b),
               (gen, len(img), xxh.XXH64(img, len(img), 0)))
    got = b""
    while True:
        err, b = c.call(IMAGE_READ, struct.pack(">QQI", gen, len(got), 40000))
        if err:
            break
        (n,) = struct.unpack(">I", b[:4])
        if n == 0:
            break
        got += b[4:4 + n]
    report(got == img, "IMAGE_READ: the image of %#x comes back" % gen,
           "errno %d, %d bytes of %d" % (err, len(got), len(img)))


def phase_read():
    """A restart, possibly by a server of another architecture on the same
    store: generations listed, files rolled back to 2 then 1, images read."""
    c = hello(b"wireorder-gen")
    expect("ROLLBACK_QUERY: the generations of the store", query(c), [(G1, 2, len(img1)), (G2, 1, len(img2))])
    rollback(c, G2, img2)
    expect("after ROLLBACK to 0x0102030405060708: u/keep.bin", keep(),
           (KEEP[:10] + b"CHANGED" + KEEP[17:30], 5 * GiB + 3))
    report(os.path.exists(os.path.join(ROOT, "u", "new.txt")), "after ROLLBACK to 0x0102030405060708: u/new.txt is there")
    rollback(c, G1, img1)
    expect("after ROLLBACK to 2^32+5: u/keep.bin as it was", keep(), (KEEP[:30], len(KEEP)))
    report(not os.path.exists(os.path.join(ROOT, "u", "new.txt")), "after ROLLBACK to 2^32+5: u/new.txt is gone")
    err, b = c.call(IMAGE_READ, struct.pack(">QQI", G1, 5 * GiB, 100))
    expect("IMAGE_READ at 5 GiB: end of the image", (err, b[:4]), (0, b"\0\0\0\0"))
    expect("after ROLLBACK: 2^32+5 alone", query(c), [(G1, 2, len(img1))])
    c.sk.close()


if PHASE in ("write", "both"):
    with open(os.path.join(ROOT, "u", "keep.bin"), "wb") as f:
        f.write(KEEP)
    phase_write()
if PHASE in ("read", "both"):
    phase_read()
sys.exit(1 if fails else 0)
