# confine_raw.py SOCKET ROOT LOG [SERVER_PID ROOT_FD] - hostile paths on the wire,
# sent as raw frames written from wire/PROTOCOL.md alone (no shim, no wire/ code):
# what no program can express through the shim (NUL bytes, absolute paths, "..",
# over-long strings) and what the server alone resolves (symlinks leading out,
# magic links of a proc mount inside ROOT when SERVER_PID and ROOT_FD are given).
# Each case checks the exact errno of the error reply and, for a refusal, that
# the server's LOG gained one escaped warn line naming the request. The caller
# checks that nothing outside ROOT was read, created or changed. Prints PASS/FAIL.
import os, struct, sys

import rawwire
from rawwire import Reporter, s_

SOCK, ROOT, LOG = sys.argv[1:4]
PROC = len(sys.argv) > 5
SPID, RFD = (int(sys.argv[4]), int(sys.argv[5])) if PROC else (0, 0)

# Message types, flags (PROTOCOL.md 2, 4.1, 6.2, 6.6, 6.7), errnos of table 6.1.
OPEN, CLOSE, STAT, ACCESS, UNLINK, RENAME, MKDIR = 2, 3, 9, 10, 11, 12, 13
SETATTR, READLINK, SYMLINK, LINK, STATFS = 15, 16, 17, 18, 19
O_RDONLY, O_WRONLY, O_CREAT, O_DIRECTORY, O_NOFOLLOW = 0, 1, 0x10, 0x100, 0x200
AT_NOFOLLOW, AT_REMOVEDIR, SET_MODE = 0x1, 0x2, 0x01
EACCES, EEXIST, EINVAL, ELOOP, ENAMETOOLONG, ENOENT = 2, 15, 20, 23, 26, 30
NAMES = {0: "OK", EACCES: "EACCES", EEXIST: "EEXIST", EINVAL: "EINVAL", ELOOP: "ELOOP",
         ENAMETOOLONG: "ENAMETOOLONG", ENOENT: "ENOENT"}
OUTSIDE = "resolves outside the export root"


report = Reporter("raw: ")


def Conn():
    try:
        return rawwire.Conn(SOCK).hello(peer=b"confine_raw")
    except ValueError as e:
        raise SystemExit("FAIL raw: %s" % e)


log_at = os.path.getsize(LOG)


def new_log():
    """The server's log lines since the last call."""
    global log_at
    with open(LOG, "rb") as f:
        f.seek(log_at)
        b = f.read()
    log_at += len(b)
    return b.decode("latin-1").splitlines()


c = Conn()
new_log()
TYPE_NAMES = {OPEN: "OPEN", STAT: "STAT", ACCESS: "ACCESS", UNLINK: "UNLINK", RENAME: "RENAME", MKDIR: "MKDIR",
              SETATTR: "SETATTR", READLINK: "READLINK", SYMLINK: "SYMLINK", LINK: "LINK", STATFS: "STATFS"}


def case(name, typ, payload, want, why=None):
    """One request: its errno must be want; a refusal (why: a fragment of the
    reason) must add one warn line "TYPE #id path '...' refused: why" to the log;
    anything else must add no refusal."""
    global c
    try:
        err, body = c.call(typ, payload)
    except (EOFError, ValueError, OSError) as e:
        report(False, name, "no error reply: %s (the session is reopened)" % e)
        c = Conn()
        new_log()
        return
    lines = new_log()
    refusals = [l for l in lines if " refused" in l]
    ok = err == want
    detail = "errno %s, want %s" % (NAMES.get(err, err), NAMES.get(want, want))
    if ok and why:
        mine = [l for l in refusals if "warn: " in l and "%s #%d " % (TYPE_NAMES[typ], c.last_id) in l and why in l]
        ok = len(mine) == 1
        detail = "no single warn line '%s #%d ... refused: ...%s' in the log: %r" % (TYPE_NAMES[typ], c.last_id, why, lines[-3:])
    elif ok and refusals:
        ok = False
        detail = "an unexpected refusal in the log: %r" % refusals
    report(ok, name, detail)


def op(path, flags=O_RDONLY, mode=0):
    return s_(path) + struct.pack(">II", flags, mode)


def preq(path, flags=0, arg=0):
    return s_(path) + struct.pack(">II", flags, arg)


def two(a, b, flags=0):
    return s_(a) + s_(b) + struct.pack(">I", flags)


def setattr_(path, mode):
    return struct.pack(">Q", 0) + s_(path) + struct.pack(">IIIIIQQQII", 0, SET_MODE, mode, 0xffffffff, 0xffffffff,
                                                        0, 0, 0, 0, 0)


def comps(n, ch=b"a"):
    """n bytes of 99-byte components"""
    return bytes(b"/"[0] if i % 100 == 99 else ch[0] for i in range(n))


# ---- ".." and absolute paths: never valid on the wire (EACCES) ----------------------
DOTDOT = "'..' component"
case("OPEN ../outside.txt: EACCES", OPEN, op(b"../outside.txt"), EACCES, DOTDOT)
case("OPEN d/../../outside.txt: EACCES", OPEN, op(b"d/../../outside.txt"), EACCES, DOTDOT)
case("OPEN d/.. (stays inside, still no '..' on the wire): EACCES", OPEN, op(b"d/.."), EACCES, DOTDOT)
case("OPEN O_CREAT ../created: EACCES", OPEN, op(b"../created", O_WRONLY | O_CREAT, 0o644), EACCES, DOTDOT)
case("OPEN /etc/passwd: EACCES", OPEN, op(b"/etc/passwd"), EACCES, "absolute path")
case("OPEN the root's own absolute path: EACCES", OPEN, op(ROOT.encode() + b"/d/f"), EACCES, "absolute path")
case("STAT ../outside.txt: EACCES", STAT, preq(b"../outside.txt"), EACCES, DOTDOT)
case("STAT AT_NOFOLLOW ..: EACCES", STAT, preq(b"..", AT_NOFOLLOW), EACCES, DOTDOT)
case("ACCESS ../outside.txt: EACCES", ACCESS, preq(b"../outside.txt"), EACCES, DOTDOT)
case("UNLINK ../outside.txt: EACCES", UNLINK, preq(b"../outside.txt"), EACCES, DOTDOT)
case("UNLINK AT_REMOVEDIR ../out: EACCES", UNLINK, preq(b"../out", AT_REMOVEDIR), EACCES, DOTDOT)
case("MKDIR ..: EACCES", MKDIR, preq(b"..", 0, 0o755), EACCES, DOTDOT)
case("MKDIR ../newdir: EACCES", MKDIR, preq(b"../newdir", 0, 0o755), EACCES, DOTDOT)
case("READLINK ../out/l: EACCES", READLINK, preq(b"../out/l"), EACCES, DOTDOT)
case("STATFS /: EACCES", STATFS, preq(b"/"), EACCES, "absolute path")
case("RENAME d/f to ../moved: EACCES", RENAME, two(b"d/f", b"../moved"), EACCES, DOTDOT)
case("RENAME ../outside.txt to d/stolen: EACCES", RENAME, two(b"../outside.txt", b"d/stolen"), EACCES, DOTDOT)
case("LINK ../outside.txt to d/hl: EACCES", LINK, two(b"../outside.txt", b"d/hl"), EACCES, DOTDOT)
case("LINK d/f to /tmp/hl (absolute): EACCES", LINK, two(b"d/f", b"/tmp/ckpt-confine-hl"), EACCES, "absolute path")
case("SYMLINK x to ../sl: EACCES", SYMLINK, two(b"x", b"../sl"), EACCES, DOTDOT)
case("SETATTR ../outside.txt mode 0777: EACCES", SETATTR, setattr_(b"../outside.txt", 0o777), EACCES, DOTDOT)

# ---- NUL bytes: EINVAL, never cut at the NUL -------------------------------------------
NUL = "NUL byte in path"
case("OPEN 'd/f<NUL>' (d/f exists): EINVAL", OPEN, op(b"d/f\0"), EINVAL, NUL)
case("OPEN 'd/f<NUL>/../../outside.txt': EINVAL", OPEN, op(b"d/f\0/../../outside.txt"), EINVAL, NUL)
case("OPEN '<NUL>': EINVAL", OPEN, op(b"\0"), EINVAL, NUL)
case("STAT 'rel<NUL>x': EINVAL", STAT, preq(b"rel\0x"), EINVAL, NUL)
case("MKDIR 'newdir<NUL>': EINVAL", MKDIR, preq(b"newdir\0", 0, 0o755), EINVAL, NUL)
case("RENAME d/f to 'd/g<NUL>': EINVAL", RENAME, two(b"d/f", b"d/g\0"), EINVAL, NUL)
case("SYMLINK content with a NUL: EINVAL", SYMLINK, two(b"a\0b", b"d/nulsl"), EINVAL, "NUL byte")

# ---- malformed: EINVAL -------------------------------------------------------------------
case("OPEN .: EINVAL", OPEN, op(b"."), EINVAL, "'.' component")
case("OPEN d//f: EINVAL", OPEN, op(b"d//f"), EINVAL, "empty component")
case("OPEN d/f/: EINVAL", OPEN, op(b"d/f/"), EINVAL, "trailing")

# ---- lengths: ENAMETOOLONG past 255 per name, 4095 in all ------------------------------
case("OPEN a 255-byte name: accepted (ENOENT)", OPEN, op(b"d/" + b"n" * 255), ENOENT)
case("OPEN a 256-byte name: ENAMETOOLONG", OPEN, op(b"d/" + b"n" * 256), ENAMETOOLONG, "NAME_MAX")
case("MKDIR a 256-byte name: ENAMETOOLONG", MKDIR, preq(b"n" * 256, 0, 0o755), ENAMETOOLONG, "NAME_MAX")
case("OPEN a 4095-byte path: accepted (ENOENT)", OPEN, op(comps(4095)), ENOENT)
case("OPEN a 4096-byte path: ENAMETOOLONG", OPEN, op(comps(4096)), ENAMETOOLONG, "path too long")
case("OPEN a 5000-byte path: ENAMETOOLONG", OPEN, op(comps(5000)), ENAMETOOLONG, "path too long")
case("RENAME to a 5000-byte path: ENAMETOOLONG", RENAME, two(b"d/f", comps(5000)), ENAMETOOLONG, "path too long")
case("SYMLINK content of 4096 bytes: ENAMETOOLONG", SYMLINK, two(b"x" * 4096, b"d/longsl"), ENAMETOOLONG)
case("SYMLINK content of 5000 bytes: ENAMETOOLONG", SYMLINK, two(b"x" * 5000, b"d/longsl"), ENAMETOOLONG,
     "longer than 4095")

# ---- symlinks inside the root leading out: EACCES --------------------------------------
case("OPEN abs/passwd (abs -> /etc): EACCES", OPEN, op(b"abs/passwd"), EACCES, OUTSIDE)
case("OPEN rel (-> ../outside.txt): EACCES", OPEN, op(b"rel"), EACCES, OUTSIDE)
case("OPEN chain2 (-> chain1 -> rel -> ../outside.txt): EACCES", OPEN, op(b"chain2"), EACCES, OUTSIDE)
case("OPEN d/up/outside.txt (d/up -> ../..): EACCES", OPEN, op(b"d/up/outside.txt"), EACCES, OUTSIDE)
case("OPEN outdir/x (outdir -> ../out): EACCES", OPEN, op(b"outdir/x"), EACCES, OUTSIDE)
case("OPEN O_DIRECTORY outdir: EACCES", OPEN, op(b"outdir", O_DIRECTORY), EACCES, OUTSIDE)
case("OPEN O_CREAT outdir/new: EACCES", OPEN, op(b"outdir/new", O_WRONLY | O_CREAT, 0o644), EACCES, OUTSIDE)
case("OPEN O_CREAT dangle (-> an absolute missing file): EACCES", OPEN,
     op(b"dangle", O_WRONLY | O_CREAT, 0o644), EACCES, OUTSIDE)
case("STAT rel: EACCES", STAT, preq(b"rel"), EACCES, OUTSIDE)
case("STAT AT_NOFOLLOW rel: the link itself", STAT, preq(b"rel", AT_NOFOLLOW), 0)
case("READLINK rel: its text, as locally", READLINK, preq(b"rel"), 0)
case("ACCESS rel: EACCES", ACCESS, preq(b"rel"), EACCES, OUTSIDE)
case("STATFS outdir: EACCES", STATFS, preq(b"outdir"), EACCES, OUTSIDE)
case("MKDIR outdir/nd: EACCES", MKDIR, preq(b"outdir/nd", 0, 0o755), EACCES, OUTSIDE)
case("UNLINK outdir/x: EACCES", UNLINK, preq(b"outdir/x"), EACCES, OUTSIDE)
case("READLINK outdir/l: EACCES", READLINK, preq(b"outdir/l"), EACCES, OUTSIDE)
case("RENAME d/f to outdir/moved: EACCES", RENAME, two(b"d/f", b"outdir/moved"), EACCES, OUTSIDE)
case("RENAME outdir/x to d/stolen: EACCES", RENAME, two(b"outdir/x", b"d/stolen"), EACCES, OUTSIDE)
case("LINK outdir/x to d/hl: EACCES", LINK, two(b"outdir/x", b"d/hl"), EACCES, OUTSIDE)
case("LINK d/f to outdir/hl: EACCES", LINK, two(b"d/f", b"outdir/hl"), EACCES, OUTSIDE)
case("SYMLINK x to outdir/sl: EACCES", SYMLINK, two(b"x", b"outdir/sl"), EACCES, OUTSIDE)
case("SETATTR rel mode 0777: EACCES", SETATTR, setattr_(b"rel", 0o777), EACCES, OUTSIDE)
case("SYMLINK /etc/passwd to d/mylink: made (its content is free text)", SYMLINK, two(b"/etc/passwd", b"d/mylink"), 0)
case("OPEN d/mylink: EACCES", OPEN, op(b"d/mylink"), EACCES, OUTSIDE)
case("LINK abs to d/hardabs: the link itself is linked", LINK, two(b"abs", b"d/hardabs"), 0)
case("OPEN d/hardabs/passwd (a hard link of an escaping link): EACCES", OPEN, op(b"d/hardabs/passwd"), EACCES, OUTSIDE)
case("OPEN loop: ELOOP, not an escape", OPEN, op(b"loop"), ELOOP)
case("OPEN O_NOFOLLOW rel: ELOOP, not an escape", OPEN, op(b"rel", O_NOFOLLOW), ELOOP)

# Control bytes in a refused path are escaped: the log keeps one line per event.
case("OPEN abs/<LF><ESC>... : EACCES", OPEN, op(b"abs/x\nckpt-server[1]: warn: forged\x1b[2J\r"), EACCES, OUTSIDE)
with open(LOG, "rb") as f:
    text = f.read()
report(b"forged\x1b" not in text and b"\nckpt-server[1]: warn: forged" not in text and b"x\\x0ackpt-server[1]" in text,
       "a path's control bytes are escaped in the log (\\x0a), no forged line")

# ---- magic links of a proc mount inside the root: EACCES -------------------------------
if PROC:
    case("OPEN proc/self/root/etc/passwd: EACCES", OPEN, op(b"proc/self/root/etc/passwd"), EACCES, OUTSIDE)
    case("OPEN proc/self/cwd: EACCES", OPEN, op(b"proc/self/cwd", O_DIRECTORY), EACCES, OUTSIDE)
    case("OPEN proc/thread-self/root: EACCES", OPEN, op(b"proc/thread-self/root", O_DIRECTORY), EACCES, OUTSIDE)
    case("OPEN proc/<server pid>/root/etc/passwd: EACCES", OPEN,
         op(b"proc/%d/root/etc/passwd" % SPID), EACCES, OUTSIDE)
    case("OPEN proc/self/fd/<the server's root fd>/d/f: EACCES", OPEN,
         op(b"proc/self/fd/%d/d/f" % RFD), EACCES, OUTSIDE)
    case("OPEN O_CREAT proc/self/root/<outside the root>: EACCES", OPEN,
         op(b"proc/self/root" + os.path.dirname(ROOT).encode() + b"/magic-created", O_WRONLY | O_CREAT, 0o644),
         EACCES, OUTSIDE)
    case("OPEN pself/root/etc/passwd (pself -> proc/self): EACCES", OPEN, op(b"pself/root/etc/passwd"), EACCES, OUTSIDE)
    case("STAT proc/self/root: EACCES", STAT, preq(b"proc/self/root"), EACCES, OUTSIDE)
    case("STAT AT_NOFOLLOW proc/self/root: the link itself", STAT, preq(b"proc/self/root", AT_NOFOLLOW), 0)
    case("OPEN O_NOFOLLOW proc/self/root: ELOOP, as locally", OPEN, op(b"proc/self/root", O_NOFOLLOW), ELOOP)
    case("MKDIR proc/self/cwd/nd: EACCES", MKDIR, preq(b"proc/self/cwd/nd", 0, 0o755), EACCES, OUTSIDE)
    case("RENAME d/f to proc/self/root/<outside the root>: EACCES", RENAME,
         two(b"d/f", b"proc/self/root" + os.path.dirname(ROOT).encode() + b"/moved"), EACCES, OUTSIDE)

# The session survived every refusal: a plain request still works.
case("the session goes on: OPEN d/f", OPEN, op(b"d/f"), 0)
sys.exit(1 if report.fails else 0)
