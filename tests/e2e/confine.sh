#!/bin/bash
# confine.sh - every path stays beneath --root (issue 6, item 2). Hostile paths,
# through the shim with real programs (cat, ls, stat, mv, python3's os calls)
# where a program can express them, and as raw frames (confine_raw.py) where it
# cannot (NUL bytes, absolute paths and ".." on the wire, over-long strings):
# each is refused with the errno of wire/PROTOCOL.md 7.1 (EACCES for a way out,
# EINVAL for a NUL, ENAMETOOLONG for a length) and logged as one escaped warn
# line; a path whose ".." leaves the mount is a local path, as the kernel has
# it. At the end nothing outside the root was read, created or changed.
# The server runs in a private mount namespace with /proc bound inside its
# root (root/proc) for the magic-link cases, when unshare and mount are allowed.
source "$(dirname "$0")/lib.sh"

R=$T/root     # the export root
O=$T/out      # a directory outside it
MNT=$T/mnt    # the mount point: a real local directory holding d/f too, so
              # that ".." out of it means the same locally and under the shim
mkdir -p "$R/d" "$R/proc" "$O/sub" "$MNT/d" "$T/wd"
echo inside >"$MNT/d/f"
echo "outside secret" >"$T/outside.txt"
echo x >"$O/x"
ln -s y "$O/l"
echo inside >"$R/d/f"
ln -s /etc "$R/abs"
ln -s ../outside.txt "$R/rel"
ln -s rel "$R/chain1"
ln -s chain1 "$R/chain2"
ln -s ../.. "$R/d/up"
ln -s ../out "$R/outdir"
ln -s "$T/dangle-target" "$R/dangle"
ln -s loop "$R/loop"
ln -s proc/self "$R/pself"
ln -s d/f "$R/good"

# the canaries: compared at the end
snap() {
	{
		sha256sum "$T/outside.txt" /etc/passwd /etc/hostname
		stat -c '%n %s %Y %Z %a' "$T/outside.txt" /etc/passwd /etc/hostname
		tree_list "$O" mtime
		ls -a "$T" | grep -v -E '^(c\.log|c\.sock|c\.ready|tree\.[12]|snap\.[0-9]|try\.(out|err|py)|procwrap)$'
		ls -a /tmp | grep -c ckpt-confine
	} >"$T/snap.$1"
}
snap 0

# Magic links need a proc inside the root: the server's own mount namespace.
PROCBIND=0
if [ -z "${CKPT_TEST_SERVER_CMD:-}" ] &&
	unshare -m --propagation private mount --bind /proc "$R/proc" 2>/dev/null; then
	cat >"$T/procwrap" <<'EOF'
#!/bin/sh
# procwrap ROOT CMD...: /proc bound at ROOT/proc (this mount namespace only), then CMD
r=$1
shift
mount --bind /proc "$r/proc" || { echo "procwrap: cannot bind /proc at $r/proc"; exit 97; }
exec "$@"
EOF
	chmod +x "$T/procwrap"
	SERVER_CMD=(unshare -m --propagation private "$T/procwrap" "$R" "${SERVER_CMD[@]}")
	PROCBIND=1
fi
need_server c "$R"
LOG=$T/c.log
M=$MNT=unix:$SOCK_c
RFD=
if [ "$PROCBIND" = 1 ]; then
	for f in /proc/$PID_c/fd/*; do
		[ "$(readlink "$f")" = "$R" ] && RFD=${f##*/}
	done
	[ -n "$RFD" ] || { fail "the server's root fd was not found in /proc/$PID_c/fd"; PROCBIND=0; }
fi
[ "$PROCBIND" = 1 ] || skip "magic links of a proc mount inside the root: no private mount namespace here"

# ---- raw frames ------------------------------------------------------------------------
if [ "$PROCBIND" = 1 ]; then
	timeout -k 5 "$TIMEOUT" "$PY" "$TOP/tests/e2e/confine_raw.py" "$SOCK_c" "$R" "$LOG" "$PID_c" "$RFD"
else
	timeout -k 5 "$TIMEOUT" "$PY" "$TOP/tests/e2e/confine_raw.py" "$SOCK_c" "$R" "$LOG"
fi
rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "confine_raw.py exited $rc"
rm -f "$R/d/mylink" "$R/d/hardabs"

# ---- through the shim --------------------------------------------------------------------
cat >"$T/try.py" <<'EOF'
# try.py OP ARGS...: one os call; prints "ok [first bytes read]" or "errno NAME"
import errno, os, sys
op, a = sys.argv[1], sys.argv[2:]
def rd(p, fl=0):
    fd = os.open(p, os.O_RDONLY | fl)
    try:
        return os.read(fd, 64).decode("latin-1").strip()
    finally:
        os.close(fd)
calls = {
    "open": lambda: rd(a[0]), "opendir": lambda: os.listdir(a[0]),
    "nofollow": lambda: rd(a[0], os.O_NOFOLLOW),
    "creat": lambda: os.close(os.open(a[0], os.O_WRONLY | os.O_CREAT, 0o644)),
    "stat": lambda: os.stat(a[0]).st_mode, "lstat": lambda: os.lstat(a[0]).st_mode,
    "mkdir": lambda: os.mkdir(a[0]), "rmdir": lambda: os.rmdir(a[0]), "unlink": lambda: os.unlink(a[0]),
    "rename": lambda: os.rename(a[0], a[1]), "link": lambda: os.link(a[0], a[1]),
    "symlink": lambda: os.symlink(a[0], a[1]), "readlink": lambda: os.readlink(a[0]),
    "truncate": lambda: os.truncate(a[0], 0), "chmod": lambda: os.chmod(a[0], 0o777),
    "statvfs": lambda: os.statvfs(a[0]).f_namemax, "chdir": lambda: os.chdir(a[0]),
    "cdopen": lambda: (os.chdir(a[0]), rd(a[1]))[1],
}
try:
    r = calls[op]()
    print("ok" if r is None or op not in ("open", "nofollow", "cdopen") else "ok " + r)
except OSError as e:
    print("errno " + errno.errorcode.get(e.errno, str(e.errno)))
EOF

# log_mark; log_new: the server's log lines since log_mark
log_mark() { LOGAT=$(wc -c <"$LOG"); }
log_new() { tail -c +$((LOGAT + 1)) "$LOG"; }

# refused NAME WANT OP ARGS...: under the shim, os call OP must fail with
# errno WANT and the server must log one warn refusal line.
refused() {
	local name=$1 want=$2 got n
	shift 2
	log_mark
	got=$(cd "$T/wd" && shimt "$M" "$PY" "$T/try.py" "$@" 2>&1)
	n=$(log_new | grep -c 'warn: .* refused: ')
	if [ "$got" = "errno $want" ] && [ "$n" -ge 1 ]; then
		pass "shim: $name: $want, logged"
	else
		fail "shim: $name: got '$got' (want errno $want), $n refusal line(s) logged"
		log_new | tail -3 | sed 's/^/    /'
	fi
}

# like_local NAME OP ARGS...: under the shim the os call gives what it gives
# without the shim (on MNT's local copy), and no refusal is logged.
like_local() {
	local name=$1 l r n
	shift
	log_mark
	l=$(cd "$T/wd" && "$PY" "$T/try.py" "$@" 2>&1)
	r=$(cd "$T/wd" && shimt "$M" "$PY" "$T/try.py" "$@" 2>&1)
	n=$(log_new | grep -c ' refused: ')
	if [ "$l" = "$r" ] && [ "$n" = 0 ]; then
		pass "shim: $name: '$r' as locally, nothing sent to refuse"
	else
		fail "shim: $name: '$r' under the shim, '$l' locally; $n refusal line(s) logged"
	fi
}

# prog NAME WANT CMD...: a real program under the shim fails, its stderr says
# WANT, and the server logs a refusal.
prog() {
	local name=$1 want=$2 rc n
	shift 2
	log_mark
	(cd "$T/wd" && shimt "$M" "$@") >"$T/try.out" 2>"$T/try.err"
	rc=$?
	n=$(log_new | grep -c 'warn: .* refused: ')
	if [ "$rc" != 0 ] && grep -q "$want" "$T/try.err" && ! grep -q -e secret -e root: "$T/try.out" && [ "$n" -ge 1 ]; then
		pass "shim: $name: '$want', logged"
	else
		fail "shim: $name: exit $rc, stderr '$(head -2 "$T/try.err" | tr '\n' ' ')', $n refusal line(s) logged"
	fi
}

EACCES_TXT='Permission denied'
prog "cat through an absolute link to /etc" "$EACCES_TXT" cat "$MNT/abs/passwd"
prog "cat through a relative link out" "$EACCES_TXT" cat "$MNT/rel"
prog "cat through a chain of links out" "$EACCES_TXT" cat "$MNT/chain2"
prog "cat through a link to ../.. inside a subdirectory" "$EACCES_TXT" cat "$MNT/d/up/outside.txt"
prog "ls of a link to an outside directory" "$EACCES_TXT" ls "$MNT/outdir/"
prog "stat -L of a link out" "$EACCES_TXT" stat -L "$MNT/rel"
prog "touch through a link to an outside directory" "$EACCES_TXT" touch "$MNT/outdir/new"
prog "mkdir through a link to an outside directory" "$EACCES_TXT" mkdir "$MNT/outdir/nd"
prog "mv into a link to an outside directory" "$EACCES_TXT" mv "$MNT/d/f" "$MNT/outdir/f"
prog "cp through a dangling absolute link" "$EACCES_TXT" cp /etc/hostname "$MNT/dangle"
refused "os.open abs/passwd" EACCES open "$MNT/abs/passwd"
refused "os.open rel" EACCES open "$MNT/rel"
refused "os.stat rel" EACCES stat "$MNT/rel"
refused "os.listdir outdir" EACCES opendir "$MNT/outdir"
refused "os.rename d/f outdir/f" EACCES rename "$MNT/d/f" "$MNT/outdir/f"
refused "os.rename outdir/x d/x" EACCES rename "$MNT/outdir/x" "$MNT/d/x"
refused "os.link outdir/x d/hl" EACCES link "$MNT/outdir/x" "$MNT/d/hl"
refused "os.link d/f outdir/hl" EACCES link "$MNT/d/f" "$MNT/outdir/hl"
refused "os.symlink into outdir" EACCES symlink x "$MNT/outdir/sl"
refused "os.unlink outdir/x" EACCES unlink "$MNT/outdir/x"
refused "os.rmdir outdir/sub" EACCES rmdir "$MNT/outdir/sub"
refused "os.truncate rel" EACCES truncate "$MNT/rel"
refused "os.chmod rel" EACCES chmod "$MNT/rel"
refused "os.chdir outdir" EACCES chdir "$MNT/outdir"
refused "os.readlink outdir/l" EACCES readlink "$MNT/outdir/l"
refused "os.statvfs outdir" EACCES statvfs "$MNT/outdir"
refused "os.open O_CREAT dangle" EACCES creat "$MNT/dangle"
if [ "$PROCBIND" = 1 ]; then
	prog "cat proc/self/root/etc/passwd" "$EACCES_TXT" cat "$MNT/proc/self/root/etc/passwd"
	prog "ls proc/self/cwd" "$EACCES_TXT" ls "$MNT/proc/self/cwd/"
	refused "os.open proc/<server pid>/root/etc/passwd" EACCES open "$MNT/proc/$PID_c/root/etc/passwd"
	refused "os.open proc/self/fd/<server root fd>/d/f" EACCES open "$MNT/proc/self/fd/$RFD/d/f"
	refused "os.open pself/root/etc/passwd" EACCES open "$MNT/pself/root/etc/passwd"
	refused "os.open O_CREAT through proc/self/root" EACCES creat "$MNT/proc/self/root$T/magic-created"
fi

# Not escapes: the same answers as any local link.
got=$(shimt "$M" cat "$MNT/good" 2>&1)
[ "$got" = inside ] && pass "shim: a link that stays inside is followed" || fail "shim: cat good: '$got'"
log_mark
got=$(shimt "$M" "$PY" "$T/try.py" lstat "$MNT/rel")
[ "$got" = "ok" ] && [ "$(log_new | grep -c ' refused: ')" = 0 ] &&
	pass "shim: lstat of an escaping link is the link itself, no refusal" || fail "shim: lstat rel: '$got'"
got=$(shimt "$M" readlink "$MNT/rel" 2>&1)
[ "$got" = ../outside.txt ] && pass "shim: readlink shows an escaping link's text, as locally" || fail "shim: readlink rel: '$got'"
got=$(shimt "$M" "$PY" "$T/try.py" open "$MNT/loop")
[ "$got" = "errno ELOOP" ] && pass "shim: a symlink loop is ELOOP" || fail "shim: open loop: '$got'"
got=$(shimt "$M" "$PY" "$T/try.py" nofollow "$MNT/rel")
[ "$got" = "errno ELOOP" ] && pass "shim: O_NOFOLLOW on an escaping link is ELOOP" || fail "shim: nofollow rel: '$got'"

# ".." in the program's own path: applied before the mount is matched, so
# leaving the mount gives a local path, as the kernel resolves it.
like_local "cat-like open of mnt/../outside.txt" open "$MNT/../outside.txt"
like_local "open of mnt/d/../../outside.txt" open "$MNT/d/../../outside.txt"
like_local "open of mnt/../../../../../../../..$T/outside.txt" open "$MNT/../../../../../../../..$T/outside.txt"
like_local "mkdir mnt/.. (EEXIST)" mkdir "$MNT/.."
like_local "stat of mnt/d/../.." stat "$MNT/d/../.."
got=$(shimt "$M" "$PY" "$T/try.py" cdopen "$MNT/d" ../../outside.txt)
[ "$got" = "ok outside secret" ] && pass "shim: from a remote cwd, ../../outside.txt is the local file" ||
	fail "shim: cwd $MNT/d, open ../../outside.txt: '$got'"
got=$(shimt "$M" "$PY" "$T/try.py" rename "$MNT/d/f" "$O/f")
[ "$got" = "errno EXDEV" ] && pass "shim: rename from the mount to a local directory is EXDEV, as across mounts" ||
	fail "shim: rename out of the mount: '$got'"
got=$(shimt "$M" "$PY" "$T/try.py" link "$MNT/d/f" "$O/hl")
[ "$got" = "errno EXDEV" ] && pass "shim: link from the mount to a local directory is EXDEV" ||
	fail "shim: link out of the mount: '$got'"

# Lengths: ENAMETOOLONG, as locally, never EIO or a lost session.
n256=$(printf 'n%.0s' $(seq 256))
long=$(printf 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/%.0s' $(seq 100))
like_local "a 256-byte name" open "$MNT/d/$n256"
like_local "mkdir of a 256-byte name" mkdir "$MNT/$n256"
like_local "a 5000-byte path" open "$MNT/$long"
like_local "a 5000-byte path to rename to" rename "$MNT/d/f" "$MNT/$long"
got=$(shimt "$M" "$PY" "$T/try.py" open "$MNT/d/$n256")
[ "$got" = "errno ENAMETOOLONG" ] && pass "shim: a 256-byte name is ENAMETOOLONG" || fail "shim: 256-byte name: '$got'"
got=$(shimt "$M" "$PY" "$T/try.py" open "$MNT/$long")
[ "$got" = "errno ENAMETOOLONG" ] && pass "shim: a 5000-byte path is ENAMETOOLONG" || fail "shim: 5000-byte path: '$got'"
shimt "$M" cat "$MNT/$long" >/dev/null 2>"$T/try.err"
grep -q 'File name too long' "$T/try.err" && pass "shim: cat of a 5000-byte path: 'File name too long'" ||
	fail "shim: cat of a 5000-byte path: '$(head -1 "$T/try.err")'"

# ---- nothing outside the root was read, created or changed -----------------------------
sleep 0.1
snap 1
if cmp -s "$T/snap.0" "$T/snap.1"; then
	pass "outside the root: the canaries, /etc/passwd and $O unchanged, nothing created"
else
	fail "something outside the root changed:"
	diff "$T/snap.0" "$T/snap.1" | head -20 | sed 's/^/    /'
fi
[ "$(cat "$R/d/f")" = inside ] && pass "inside the root: d/f is still there" || fail "d/f was moved or changed"
if grep -q -i -E 'protocol error|malformed|sanitizer' "$LOG"; then
	fail "the server log has a protocol error or a sanitizer report:"
	grep -i -E 'protocol error|malformed|sanitizer' "$LOG" | head -5 | sed 's/^/    /'
else
	pass "no refusal ended a session"
fi
expect "server stops cleanly" stop_server c
finish
