# wireorder_fs.py REMOTE SERVERSIDE - run under the shim by wireorder.sh.
#
# REMOTE is an empty directory under a mount (/data/w); SERVERSIDE is the same
# directory seen locally, in the server's root. The server runs on this very
# kernel, so what the shim reports for REMOTE must equal, field for field, what
# the kernel reports for SERVERSIDE. The values are chosen so that a field sent
# in host byte order, cut to 32 bits or read as the wrong sign cannot pass:
# sizes and offsets above 4 GiB, times before 1970 and after 2106 with odd
# nanoseconds, ids above 2^31, set-id and sticky mode bits, device numbers with
# large minors, and errnos (the wire's numbers are not the host's: ENOENT is 2
# on Linux, 30 on the wire).
import errno, os, socket, stat, sys

R, S = sys.argv[1], sys.argv[2]
fails = 0


def report(ok, name, why=""):
    global fails
    if ok:
        print("PASS " + name)
    else:
        fails += 1
        print("FAIL %s: %s" % (name, why))


def r(*p):
    return os.path.join(R, *p)


def s(*p):
    return os.path.join(S, *p)


FIELDS = ["st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size",
          "st_blksize", "st_blocks", "st_atime_ns", "st_mtime_ns", "st_ctime_ns"]


def same_stat(name, a, b, fields=FIELDS):
    diff = ["%s %r != %r" % (f, getattr(a, f), getattr(b, f)) for f in fields
            if getattr(a, f) != getattr(b, f)]
    report(not diff, name, "remote vs server-side: " + "; ".join(diff))


def expect(name, got, want):
    report(got == want, name, "got %r, want %r" % (got, want))


os.umask(0)
GiB = 1 << 30
NEG_NS = -1234567890123456789            # 1930-11-18, odd nanoseconds
FAR_NS = (1 << 33) * 10**9 + 987654321    # 2242: seconds above 2^32
UID, GID = 70001, 3000000007              # above 2^16 and 2^31
if os.geteuid() != 0:                     # only root may give a file away
    UID, GID = os.geteuid(), os.getegid()

# ---- made through the shim -------------------------------------------------------
with open(r("f1"), "wb") as f:
    f.write(b"x" * 100)
os.chown(r("f1"), UID, GID)  # before chmod: chown clears set-id bits
os.chmod(r("f1"), 0o6751)
os.link(r("f1"), r("h1"))
os.link(r("f1"), r("h2"))
os.utime(r("f1"), ns=(NEG_NS, FAR_NS))
os.mkdir(r("d1"), 0o1777)
os.utime(r("d1"), ns=(1700000000000000001, 1700000000999999999))
os.symlink("f1", r("sl"))
fd = os.open(r("big"), os.O_CREAT | os.O_RDWR, 0o640)
os.pwrite(fd, b"5GiB-marker", 5 * GiB)
os.pwrite(fd, b"straddle", 4 * GiB - 3)
st_fd = os.fstat(fd)
end = os.lseek(fd, 0, os.SEEK_END)
os.close(fd)
fd = os.open(r("trunc"), os.O_CREAT | os.O_WRONLY, 0o600)
os.ftruncate(fd, 8 * GiB + 3)
os.close(fd)
os.close(os.open(r("ptrunc"), os.O_CREAT | os.O_WRONLY, 0o600))
os.truncate(r("ptrunc"), (1 << 40) + 1)

# ---- made on the server's side ----------------------------------------------------
os.mkfifo(s("fifo"), 0o604)
sock = socket.socket(socket.AF_UNIX)
sock.bind(s("sock"))
have_dev = True
try:
    os.mknod(s("chr"), 0o620 | stat.S_IFCHR, os.makedev(4000, 1000003))
except OSError:
    have_dev = False  # no CAP_MKNOD here
fd = os.open(s("lbig"), os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b"L16G", 16 * GiB)
os.close(fd)
os.utime(s("lbig"), ns=(-1, -999999999))  # the last nanosecond before 1970, and 1 s earlier

# ---- the stat block ------------------------------------------------------------
names = ["f1", "h1", "d1", "sl", "big", "trunc", "ptrunc", "fifo", "sock", "lbig"]
if have_dev:
    names.append("chr")
for n in names:
    same_stat("stat %s" % n, os.stat(r(n)), os.stat(s(n)))
    same_stat("lstat %s" % n, os.lstat(r(n)), os.lstat(s(n)))
same_stat("stat of the directory", os.stat(R), os.stat(S))
st = os.stat(s("f1"))
expect("f1: mode set through the shim", stat.S_IMODE(st.st_mode), 0o6751)
expect("f1: uid and gid set through the shim", (st.st_uid, st.st_gid), (UID, GID))
expect("f1: nanosecond times set through the shim", (st.st_atime_ns, st.st_mtime_ns), (NEG_NS, FAR_NS))
expect("f1: three links", st.st_nlink, 3)
expect("d1: sticky directory", os.stat(s("d1")).st_mode, stat.S_IFDIR | 0o1777)
expect("lbig: times before 1970 read through the shim",
       (os.stat(r("lbig")).st_atime_ns, os.stat(r("lbig")).st_mtime_ns), (-1, -999999999))
expect("big: fstat size over 4 GiB", st_fd.st_size, 5 * GiB + 11)
expect("big: lseek SEEK_END over 4 GiB", end, 5 * GiB + 11)
expect("trunc: ftruncate to 8 GiB + 3", os.stat(s("trunc")).st_size, 8 * GiB + 3)
expect("ptrunc: truncate by path to 1 TiB + 1", os.stat(s("ptrunc")).st_size, (1 << 40) + 1)
if have_dev:
    rd = os.stat(r("chr")).st_rdev
    expect("chr: device numbers", (os.major(rd), os.minor(rd)), (4000, 1000003))
expect("fifo: type", stat.S_ISFIFO(os.stat(r("fifo")).st_mode), True)
expect("sock: type", stat.S_ISSOCK(os.stat(r("sock")).st_mode), True)
expect("sl: readlink", os.readlink(r("sl")), "f1")

# ---- data at offsets over 4 GiB -----------------------------------------------------
fd = os.open(s("big"), os.O_RDONLY)
expect("big: server side has the bytes at 5 GiB", os.pread(fd, 11, 5 * GiB), b"5GiB-marker")
expect("big: server side has the bytes across 4 GiB", os.pread(fd, 8, 4 * GiB - 3), b"straddle")
os.close(fd)
fd = os.open(r("big"), os.O_RDONLY)
expect("big: pread at 5 GiB through the shim", os.pread(fd, 64, 5 * GiB - 5), b"\0" * 5 + b"5GiB-marker")
expect("big: pread across 4 GiB through the shim", os.pread(fd, 8, 4 * GiB - 3), b"straddle")
expect("big: pread past the end", os.pread(fd, 8, 1 << 40), b"")
os.lseek(fd, 5 * GiB + 5, os.SEEK_SET)
expect("big: lseek to 5 GiB then read", os.read(fd, 100), b"marker")
os.close(fd)
fd = os.open(r("lbig"), os.O_RDWR)
expect("lbig: pread at 16 GiB of a file written on the server's side", os.pread(fd, 10, 16 * GiB), b"L16G")
os.pwrite(fd, b"back", 16 * GiB + 2)
os.fsync(fd)
os.close(fd)
with open(s("lbig"), "rb") as f:
    f.seek(16 * GiB)
    expect("lbig: pwrite at 16 GiB + 2 through the shim", f.read(), b"L1back")

# ---- directory listings (ino[8], type[1] per entry), statvfs -----------------------------
def listing(d):
    return sorted((e.name, e.inode(), e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False),
                   e.is_symlink()) for e in os.scandir(d))


a, b = listing(R), listing(S)
report(a == b, "readdir: names, inode numbers and types", "remote %r\n    server-side %r" % (a, b))
va, vb = os.statvfs(R), os.statvfs(S)
diff = ["%s %r != %r" % (f, getattr(va, f), getattr(vb, f))
        for f in ("f_bsize", "f_frsize", "f_blocks", "f_files", "f_namemax", "f_flag", "f_fsid")
        if getattr(va, f) != getattr(vb, f)]
report(not diff, "statvfs", "; ".join(diff))

# ---- access ---------------------------------------------------------------------------
for n in ["f1", "d1", "big", "fifo"]:
    for m, mn in [(os.F_OK, "F"), (os.R_OK, "R"), (os.W_OK, "W"), (os.X_OK, "X"), (os.R_OK | os.X_OK, "RX")]:
        expect("access %s %s_OK" % (n, mn), os.access(r(n), m), os.access(s(n), m))

# ---- errnos: the same failing call on both sides ------------------------------------------
os.symlink("loop2", s("loop1"))
os.symlink("loop1", s("loop2"))
os.makedirs(s("full", "sub"))


def err_of(fn, base):
    try:
        fn(lambda *p: os.path.join(base, *p))
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return None


def o(flags):
    return lambda p: os.close(os.open(p, flags, 0o644))


def pwrite_far(p):
    fd = os.open(p("big"), os.O_WRONLY)
    try:
        os.pwrite(fd, b"x", 1 << 50)
        os.fsync(fd)
    finally:
        os.close(fd)


cases = [
    ("ENOENT: open of a missing file", lambda p: o(os.O_RDONLY)(p("missing"))),
    ("EEXIST: O_CREAT|O_EXCL", lambda p: o(os.O_CREAT | os.O_EXCL | os.O_WRONLY)(p("f1"))),
    ("ENOTDIR: a file as a directory", lambda p: o(os.O_RDONLY)(p("f1", "x"))),
    ("EISDIR: a directory opened for writing", lambda p: o(os.O_WRONLY)(p("d1"))),
    ("ENOTEMPTY: rmdir", lambda p: os.rmdir(p("full"))),
    ("ELOOP: a symlink loop", lambda p: o(os.O_RDONLY)(p("loop1"))),
    ("ELOOP: O_NOFOLLOW", lambda p: o(os.O_RDONLY | os.O_NOFOLLOW)(p("sl"))),
    ("ENOTDIR: O_DIRECTORY on a file", lambda p: o(os.O_RDONLY | os.O_DIRECTORY)(p("f1"))),
    ("ENAMETOOLONG: a 300-byte name", lambda p: o(os.O_RDONLY)(p("n" * 300))),
    ("EINVAL: rename into itself", lambda p: os.rename(p("full"), p("full", "sub", "x"))),
    ("EEXIST: mkdir", lambda p: os.mkdir(p("d1"))),
    ("EISDIR: unlink of a directory", lambda p: os.unlink(p("d1"))),
    ("ENOTDIR: rmdir of a file", lambda p: os.rmdir(p("f1"))),
    ("EPERM: link to a directory", lambda p: os.link(p("d1"), p("dlink"))),
    ("EINVAL: readlink of a file", lambda p: os.readlink(p("f1"))),
    ("EEXIST: symlink over a file", lambda p: os.symlink("x", p("f1"))),
    ("ENXIO: open of a socket", lambda p: o(os.O_RDONLY)(p("sock"))),
    ("EFBIG: pwrite at 2^50", pwrite_far),
    ("EFBIG: truncate to 2^50", lambda p: os.truncate(p("big"), 1 << 50)),
    ("EINVAL: truncate to a negative size", lambda p: os.truncate(p("big"), -1)),
    ("ENOTEMPTY: rename of a directory over a full one", lambda p: os.rename(p("d1"), p("full"))),
    ("EISDIR: rename of a file over a directory", lambda p: os.rename(p("h2"), p("d1"))),
    ("ENOTDIR: rename of a directory over a file", lambda p: os.rename(p("d1"), p("h2"))),
]
for name, fn in cases:
    want = err_of(fn, S)
    got = err_of(fn, R)
    if want is None:
        report(False, name, "the server-side call succeeded; the check proves nothing")
    else:
        report(got == want, name + " (%s)" % want, "through the shim: %s" % got)

sock.close()
sys.exit(1 if fails else 0)
