#!/bin/bash
# imgcheck.sh - malformed process images, and the modes of what holds images.
#
# A small program is checkpointed to a local image (CKPT_IMAGE_FILE) under
# umask 000; a generator then derives malformed images from it: overlapping
# regions, a region outside user space, a special mapping in the restore
# hole, a section running past the end, a page run outside its region, huge
# counts, a cut string, a wrong footer, and single fields changed in the
# metadata. All but the footer ones get their XXH64 recomputed
# (tests/progs/img_rehash), so that only the structural checks can catch
# them. Each must be refused by ckpt-restore (restore and --info) and by
# `ckpt inspect`: exit status 1 (not a signal), one line on stderr naming the
# corruption, nothing on stdout. Then the modes: with umask 000, images,
# status files, the run directory, and ckpt-run's store, state directory,
# joint checkpoint files and files of its embedded server are 0600 (files)
# and 0700 (directories).
source "$(dirname "$0")/lib.sh"

RESTORE=$BIN/ckpt-restore
CKPT=${CKPT_TOOL:-$BIN/ckpt}
RUN=$BIN/ckpt-run
RESTART=$BIN/ckpt-restart
REHASH=$BUILD/progs/img_rehash
PROG=$BUILD/progs/ckpt_globals
WD=$T/wd
mkdir -p "$WD" "$T/bad"

# modes WHAT PATH...: every file under PATH is 600, every directory 700
# (sockets: 700 or 600); one PASS/FAIL line. The files an undo journal set
# aside are the program's own, with its modes, in a 0700 directory.
modes() {
	local what=$1 bad
	shift
	bad=$(find "$@" -path '*/aside/*' -prune -o \( \( -type d ! -perm 700 \) -o \( -type f ! -perm 600 \) -o \
		\( -type s ! -perm 700 ! -perm 600 \) -o \( ! -type d ! -type f ! -type s \) \) -printf '%m %p\n' 2>&1)
	if [ -z "$bad" ]; then
		pass "$what: $(find "$@" | wc -l) files and directories, all 0600/0700"
	else
		fail "$what: $bad"
	fi
}

# ---- the image, written under umask 000 --------------------------------------
img=$T/good.img
(
	umask 000
	cd "$WD" && in_clean env LD_PRELOAD="$SHIM" CKPT_IMAGE_FILE="$img" CKPT_JOB=imgcheck \
		CKPT_RUN_DIR="$T/run0" "$PROG"
) </dev/null >"$T/prog.out" 2>"$T/prog.err" &
PID=$!
BG_PIDS+=("$PID")
for ((i = 0; i < 200; i++)); do grep -q '^READY' "$T/prog.out" 2>/dev/null && break; sleep 0.05; done
kill -USR1 "$PID"
for ((i = 0; i < 600; i++)); do [ -e "$img" ] && break; sleep 0.05; done
for ((i = 0; i < 100; i++)); do [ -e "$T/run0/imgcheck.status" ] && break; sleep 0.05; done
kill -KILL "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
if [ ! -s "$img" ]; then
	fail "no image: $(tail -3 "$T/prog.err")"
	finish
	exit
fi
modes "umask 000: the image and the status file" "$img" "$T/run0"
if "$RESTORE" --verify "$img" >/dev/null 2>"$T/err" && "$CKPT" inspect "$img" >/dev/null 2>>"$T/err"; then
	pass "the image itself is good (ckpt-restore --verify, ckpt inspect)"
else
	fail "the image itself is refused: $(cat "$T/err")"
fi

# ---- the malformed images -------------------------------------------------------
"$PY" - "$img" "$T/bad" >"$T/gen.out" <<'EOF'
import struct, sys
src, out = sys.argv[1], sys.argv[2]
b = open(src, "rb").read()
body, foot = bytearray(b[:-24]), b[-24:]
secs = []  # tag, payload offset, length
off = 16
while off < len(body):
    tag, ln = struct.unpack_from(">IQ", body, off)
    secs.append((tag, off + 12, ln))
    off += 12 + ln
def sec(tag):
    return next(s for s in secs if s[0] == tag)
def put(buf, at, fmt, v):
    struct.pack_into(fmt, buf, at, v)

# MEMMAP: hole, special mappings, regions (offsets of their fields)
_, mm, mmlen = sec(6)
hole, hole_len, nspec = struct.unpack_from(">QQI", body, mm)
p = mm + 20
specials = []
for i in range(nspec):
    n = struct.unpack_from(">H", body, p)[0]
    specials.append(p + 2 + n)  # start, end
    p += 2 + n + 24
nregs_at = p
nregs = struct.unpack_from(">I", body, p)[0]
p += 4
regions = []  # offset of start; start, end, kind, flags at +16..
for i in range(nregs):
    s, e = struct.unpack_from(">QQ", body, p)
    regions.append((p, s, e))
    n = struct.unpack_from(">H", body, p + 59)[0]
    p += 61 + n
pages = [s for s in secs if s[0] == 7]
ps = struct.unpack_from(">I", body, sec(1)[1] + 2 + struct.unpack_from(">H", body, sec(1)[1])[0])[0]

def emit(name, mod, rehash=True):
    v = bytearray(body)
    f = bytearray(foot)
    r = mod(v, f)
    if r is not None:
        v = r
    open("%s/%s.img" % (out, name), "wb").write(bytes(v) + bytes(f))
    print(name, "rehash" if rehash else "keep")

def overlap(v, f):  # region 1 starts where region 0 does
    put(v, regions[1][0], ">Q", regions[0][1])
emit("regions-overlap", overlap)
def outside(v, f):  # the last region above user space
    put(v, regions[-1][0], ">Q", 0x800000000000)
    put(v, regions[-1][0] + 8, ">Q", 0x800000001000)
emit("region-outside-user-space", outside)
def reversed_(v, f):
    put(v, regions[0][0] + 8, ">Q", regions[0][1])
emit("region-empty", reversed_)
def unaligned(v, f):
    put(v, regions[0][0] + 8, ">Q", regions[0][2] - 1)
emit("region-not-whole-pages", unaligned)
def kind(v, f):
    v[regions[0][0] + 17] = 9
emit("region-kind", kind)
def in_hole(v, f):  # a special mapping moved into the restore hole
    s, e = struct.unpack_from(">QQ", v, specials[0])
    put(v, specials[0], ">Q", hole)
    put(v, specials[0] + 8, ">Q", hole + e - s)
emit("special-in-hole", in_hole)
def on_region(v, f):  # a special mapping on top of a region
    s, e = struct.unpack_from(">QQ", v, specials[0])
    put(v, specials[0], ">Q", regions[0][1])
    put(v, specials[0] + 8, ">Q", regions[0][1] + e - s)
emit("special-on-region", on_region)
def holelen(v, f):
    put(v, mm + 8, ">Q", hole_len // 2)
emit("hole-size", holelen)
def seclen(v, f):  # TASK's length past the end of the image
    _, t, _ = sec(3)
    put(v, t - 8, ">Q", 1 << 40)
emit("section-past-end", seclen)
def pagesrun(v, f):  # the first run of the first PAGES just past its region
    _, q, _ = pages[0]
    ri = struct.unpack_from(">I", v, q)[0]
    put(v, q + 8, ">Q", (regions[ri][2] - regions[ri][1]) // ps)
emit("pages-run-outside-region", pagesrun)
def pagesbig(v, f):  # a run longer than its region
    _, q, _ = pages[0]
    put(v, q + 16, ">I", 0xffffffff)
emit("pages-run-huge", pagesbig)
def nosave(v, f):  # PAGES of a region marked "not saved"
    _, q, _ = pages[0]
    ri = struct.unpack_from(">I", v, q)[0]
    v[regions[ri][0] + 18] |= 8
emit("pages-of-unsaved-region", nosave)
def pagesreg(v, f):
    _, q, _ = pages[0]
    put(v, q, ">I", nregs)
emit("pages-region-index", pagesreg)
def lz4(v, f):
    _, q, _ = pages[0]
    nruns = struct.unpack_from(">I", v, q + 4)[0]
    v[q + 8 + 12 * nruns] ^= 0xff
emit("pages-not-lz4", lz4)
def nregs_huge(v, f):
    put(v, nregs_at, ">I", 0xffffffff)
emit("regions-count-huge", nregs_huge)
def nfds_huge(v, f):
    put(v, sec(5)[1], ">I", 0x7fffffff)
emit("fds-count-huge", nfds_huge)
def nsig_huge(v, f):
    put(v, sec(4)[1] + 40, ">I", 0x10000)
emit("signal-actions-huge", nsig_huge)
def signo(v, f):
    put(v, sec(4)[1] + 44, ">I", 99)
emit("signal-number", signo)
def info_sig(v, f):
    _, q, n = sec(1)
    put(v, q + n - 4, ">I", 200)
emit("checkpoint-signal", info_sig)
def cutstr(v, f):  # INFO's first string runs past the section
    _, q, n = sec(1)
    put(v, q, ">H", min(n, 4096))
emit("string-cut", cutstr)
def longstr(v, f):
    put(v, sec(1)[1], ">H", 0xffff)
emit("string-too-long", longstr)
def cpucount(v, f):
    put(v, sec(2)[1], ">I", 9)
emit("cpu-register-count", cpucount)
def rip(v, f):  # resume where nothing is mapped
    put(v, sec(2)[1] + 4 + 7 * 8, ">Q", 0x1000)
emit("cpu-resume-address", rip)
def rsp(v, f):
    put(v, sec(2)[1] + 4 + 6 * 8, ">Q", 0)
emit("cpu-resume-stack", rsp)
def brk(v, f):  # start_brk past brk
    q = sec(3)[1] + 44
    put(v, q + 4 * 8, ">Q", struct.unpack_from(">Q", v, q + 5 * 8)[0] + 4096)
emit("task-mm-order", brk)
def auxv(v, f):  # the auxv blob one byte short of whole entries
    q = sec(3)[1] + 44 + 88
    put(v, q, ">I", struct.unpack_from(">I", v, q)[0] - 1)
emit("task-auxv", auxv)
def endtot(v, f):
    _, q, _ = sec(8)
    put(v, q, ">Q", struct.unpack_from(">Q", v, q)[0] + 1)
emit("end-totals", endtot)
def dup(v, f):  # the CPU section twice
    _, q, n = sec(2)
    return v[:q + n] + v[q - 12:q + n] + v[q + n:]
emit("section-repeated", dup)
def footlen(v, f):
    put(f, 8, ">Q", len(body) + 1)
emit("footer-length", footlen, False)
def footsum(v, f):
    v[sec(6)[1] + 3] ^= 1
emit("footer-checksum", footsum, False)
EOF
while read -r name how; do
	[ "$how" = rehash ] && "$REHASH" "$T/bad/$name.img"
done <"$T/gen.out"
[ -s "$T/gen.out" ] || fail "the generator made no image"

# refused NAME CMD...: exit 1, one line on stderr saying "corrupt", nothing on stdout.
refused() {
	local name=$1 rc out
	shift
	(cd "$WD" && in_clean timeout -k 5 30 "$@") </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	if [ "$rc" = 1 ] && [ -z "$out" ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q 'corrupt' "$T/err"; then
		return 0
	fi
	fail "$name: $(basename "$1") exit $rc, stdout $(wc -c <"$T/out") bytes, stderr: $(head -3 "$T/err")"
	return 1
}

while read -r name how; do
	f=$T/bad/$name.img
	refused "$name" "$RESTORE" "$f" &&
		why=$(cat "$T/err") &&
		refused "$name" "$RESTORE" --info "$f" &&
		refused "$name" "$CKPT" inspect "$f" &&
		pass "$name: refused by ckpt-restore, --info and ckpt inspect: ${why#*: }; ${f##*/}: $(cut -d: -f3- "$T/err")"
done <"$T/gen.out"

# ---- every byte of the metadata changed in turn ---------------------------------
# The image cut down to its metadata and its first PAGES section (END says so),
# then each byte changed with the checksum recomputed: ckpt-restore --info and
# ckpt inspect each exit 0 or 1, never die of a signal.
"$PY" - "$img" "$T/small.img" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()[:-24]
out, off, pages, kept = bytearray(b[:16]), 16, 0, False
while off < len(b):
    tag, ln = struct.unpack_from(">IQ", b, off)
    s = b[off:off + 12 + ln]
    if tag == 7:
        if not kept:
            nr = struct.unpack_from(">I", s, 16)[0]
            pages += sum(struct.unpack_from(">I", s, 20 + 12 * i + 8)[0] for i in range(nr))
            out += s
            kept = True
    elif tag == 8:
        out += s[:12] + struct.pack(">Q", pages) + s[20:]
    else:
        out += s
    off += 12 + ln
open(sys.argv[2], "wb").write(bytes(out) + b"CKPTEND\0" + bytes(16))
EOF
"$REHASH" "$T/small.img"
for cmd in "$RESTORE --info" "$CKPT inspect"; do
	read -r -a argv <<<"$cmd"
	if out=$("$REHASH" --each-byte "$T/small.img" "$T/flip.img" "${argv[@]}" 2>&1); then
		pass "each byte of a $(stat -c %s "$T/small.img")-byte image changed: ${argv[0]##*/} ${argv[1]}: $(tail -1 <<<"$out")"
	else
		fail "each byte changed: ${argv[0]##*/} ${argv[1]}: $(tail -5 <<<"$out")"
	fi
done

# ---- modes under ckpt-run and ckpt-restart, umask 000 ---------------------------------
S=$T/store
R=$T/run
(
	umask 000
	# shellcheck disable=SC2030,SC2031 # for this subshell only
	export CKPT_RUN_DIR=$R
	cd "$WD" && in_clean "$RUN" --store "$S" --job modes -- "$PROG"
) </dev/null >"$T/run.out" 2>"$T/run.err" &
WPID=$!
BG_PIDS+=("$WPID")
for ((i = 0; i < 200; i++)); do grep -q '^READY' "$T/run.out" 2>/dev/null && break; sleep 0.05; done
if out=$(CKPT_RUN_DIR=$R timeout 60 "$CKPT" checkpoint --job modes 2>&1); then
	pass "ckpt checkpoint under umask 000: $out"
else
	fail "ckpt checkpoint: $out; $(tail -3 "$T/run.err")"
fi
if [ "$(stat -c %a "$S")" = 700 ]; then pass "the store is 0700"; else fail "the store is $(stat -c %a "$S")"; fi
modes "ckpt-run: the state directory and its joint checkpoint files" "$S/.ckpt-state"
modes "ckpt-run: the run directory (socket, pid, log, ready and status files)" "$R"
# Undo data: a job that changes a store file after its checkpoint (sh checks
# itself in, then truncates and rewrites /ckpt/f and removes /ckpt/g).
(
	umask 000
	# shellcheck disable=SC2030,SC2031 # for this subshell only
	export CKPT_RUN_DIR=$R
	cd "$WD" && in_clean "$RUN" --store "$S" --job undo -- \
		sh -c 'echo one >/ckpt/f; echo two >/ckpt/g; kill -USR1 $$; echo three >/ckpt/f; rm /ckpt/g; echo done; sleep 60'
) </dev/null >"$T/undo.out" 2>"$T/undo.err" &
UPID=$!
BG_PIDS+=("$UPID")
for ((i = 0; i < 200; i++)); do grep -q '^done' "$T/undo.out" 2>/dev/null && break; sleep 0.05; done
if grep -q '^done' "$T/undo.out" && [ -d "$S/.ckpt-state/undo" ] && [ -n "$(find "$S/.ckpt-state/undo" -name journal)" ]; then
	modes "ckpt-run: the state directory with undo data (journal, files set aside)" "$S/.ckpt-state"
else
	fail "undo data: none in $S/.ckpt-state/undo: $(find "$S/.ckpt-state" | head -5) $(tail -3 "$T/undo.err")"
fi
kill -TERM "$UPID" 2>/dev/null
wait "$UPID" 2>/dev/null

kill -KILL "$(cat "$R/modes.pid")" 2>/dev/null
wait "$WPID" 2>/dev/null
(
	umask 000
	# shellcheck disable=SC2030,SC2031 # for this subshell only
	export CKPT_RUN_DIR=$R
	cd "$WD" && in_clean timeout 60 "$RESTART" --store "$S" --job modes
) </dev/null >"$T/restart.out" 2>"$T/restart.err"
rc=$?
if [ "$rc" = 0 ] && grep -q '^PASS' "$T/restart.out"; then
	pass "ckpt-restart under umask 000: the program resumes and passes"
else
	fail "ckpt-restart: exit $rc: $(tail -3 "$T/restart.out" "$T/restart.err")"
fi
modes "after ckpt-restart: the run directory" "$R"

finish
