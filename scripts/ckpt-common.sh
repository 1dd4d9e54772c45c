# shellcheck shell=bash
# ckpt-common.sh - shell code shared by ckpt-run and ckpt-restart (sourced,
# not run; installed next to them).
#
# The caller sets `me` (its name, for messages) and `here` (its directory),
# then uses what is below for one job: the run directory and the job's files
# in it (<rundir>/<job>.sock, .pid, .status, .img), the embedded server, the
# program run as a child with signals passed through, periodic checkpoints
# (--interval), and the exit status.

die() { echo "$me: $*" >&2; exit 2; }   # a bad command line
fatal() { echo "$me: $*" >&2; exit 1; } # cannot do what was asked

JOB_CHARS=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-
JOB_RULE="a job name is 1 to 128 characters of A-Z a-z 0-9 . _ - not starting with '.'"

# job_name_ok NAME: NAME follows the job-name rule of wire/PROTOCOL.md 4.4.
job_name_ok() {
	[ -n "$1" ] && [ ${#1} -le 128 ] || return 1
	case "$1" in
	.* | *[!$JOB_CHARS]*) return 1 ;;
	esac
}

# job_from_program PROGRAM: a job name made from a program's name, as the
# shim makes one (other characters become '_', at most 64 of them).
job_from_program() {
	local b=${1##*/} n= c i
	for ((i = 0; i < ${#b} && i < 64; i++)); do
		c=${b:i:1}
		case "$c" in
		[$JOB_CHARS]) [ "$i" = 0 ] && [ "$c" = . ] && c=_ ;;
		*) c=_ ;;
		esac
		n+=$c
	done
	echo "${n:-job}"
}

# positive_number WHAT VALUE: VALUE is a decimal > 0 (e.g. 30 or 0.5).
positive_number() {
	[[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ $2 =~ [1-9] ]] ||
		die "bad $1 '$2': expected a number of seconds > 0"
}

# set_run_dir: RUNDIR := CKPT_RUN_DIR or ${XDG_RUNTIME_DIR:-/tmp}/ckpt-UID
# (the shim's rule), absolute, created mode 0700; refused if it is not a
# directory of ours that only we can write to. Exported as CKPT_RUN_DIR so
# the program's shim writes its status file there whatever its cwd.
set_run_dir() {
	local d=${CKPT_RUN_DIR:-} uid owner mode
	uid=$(id -u)
	if [ -z "$d" ]; then
		d=${XDG_RUNTIME_DIR:-}
		case "$d" in /*) ;; *) d=/tmp ;; esac
		d=$d/ckpt-$uid
	fi
	case "$d" in /*) ;; *) d=$PWD/$d ;; esac
	[ -d "$d" ] || mkdir -p -m 700 "$d" 2>/dev/null || [ -d "$d" ] ||
		fatal "cannot create the run directory $d (set CKPT_RUN_DIR)"
	[ ! -L "$d" ] || fatal "the run directory $d is a symbolic link; refusing it (set CKPT_RUN_DIR)"
	owner=$(stat -c %u "$d") && mode=$(stat -c %a "$d") || fatal "cannot examine the run directory $d"
	[ "$owner" = "$uid" ] || fatal "the run directory $d belongs to uid $owner, not to you (set CKPT_RUN_DIR)"
	case "$mode" in
	*[2367]? | *[2367]) fatal "the run directory $d is writable by others (mode $mode); make it 0700" ;;
	esac
	RUNDIR=$d
	export CKPT_RUN_DIR=$d
}

# set_sock JOB: SOCK := <rundir>/JOB.sock, the embedded server's address;
# refused if longer than a unix socket address allows (107 bytes).
set_sock() {
	local n
	SOCK=$RUNDIR/$1.sock
	n=$(printf %s "$SOCK" | wc -c)
	[ "$n" -le 107 ] ||
		fatal "the server socket $SOCK would be $n bytes, over the 107 a unix socket allows: use a shorter --job or set CKPT_RUN_DIR to a shorter directory"
}

# job_pid JOB: prints the PID in <rundir>/JOB.pid if that process still runs.
# A process that started after the file was written has reused the number
# and does not count.
job_pid() {
	local f=$RUNDIR/$1.pid pid st btime tck
	pid=$(cat "$f" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] || return 1
	st=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	st=${st##*) }
	# shellcheck disable=SC2086 # fields of /proc/PID/stat
	set -- $st
	[ "$1" != Z ] && [ "$1" != X ] || return 1
	btime=$(awk '$1 == "btime" { print $2 }' /proc/stat)
	tck=$(getconf CLK_TCK)
	[ $((btime + ${20} / tck)) -le $(($(stat -c %Y "$f") + 2)) ] || return 1
	echo "$pid"
}

# job_checkpoints STATE JOB: true if STATE/JOB holds a joint checkpoint file.
job_checkpoints() {
	local f
	for f in "$1/$2"/gen-*.ckpt; do
		[ -f "$f" ] && return 0
	done
	return 1
}

# ckpt_signal: CKSIG := the number of the checkpoint signal (CKPT_SIGNAL,
# default USR1, as the shim reads it), empty if checkpoints are off.
ckpt_signal() {
	local s=${CKPT_SIGNAL:-USR1}
	case "${s,,}" in
	off | none | 0) CKSIG=; return ;;
	esac
	if [[ $s =~ ^[0-9]+$ ]]; then
		[ "$s" -ge 1 ] && [ "$s" -le 64 ] || die "bad CKPT_SIGNAL '$s': not a signal number"
		CKSIG=$((10#$s))
	else
		CKSIG=$(kill -l "$s" 2>/dev/null) && [[ $CKSIG =~ ^[0-9]+$ ]] ||
			die "bad CKPT_SIGNAL '$s': expected USR1, USR2, RTMIN+N, a number, or off"
	fi
}

# catches PID SIG: PID has a handler installed for signal number SIG.
catches() {
	local m
	m=$(awk '$1 == "SigCgt:" { print $2 }' "/proc/$1/status" 2>/dev/null)
	[ -n "$m" ] && (((16#$m >> ($2 - 1)) & 1))
}

# ---- the embedded server ----------------------------------------------------------

srv_pid=
# start_server ROOT STATE SOCK: ckpt-server exporting ROOT on unix:SOCK with
# its checkpoints in STATE; sets srv_pid once it listens. Its log goes to
# <rundir>/<job>.log (appended), not among the program's messages.
start_server() {
	local ready=$RUNDIR/$job.ready log=$RUNDIR/$job.log i try why
	[ -x "$server" ] || fatal "cannot find ckpt-server (set CKPT_SERVER)"
	for ((try = 1; ; try++)); do
		rm -f "$ready"
		# umask 077 for what the server makes before it serves (its socket,
		# the ready file) and for the log; the store's modes are its own.
		(umask 077 && exec "$server" --root "$1" --state-dir "$2" --listen "unix:$3" --ready-file "$ready" \
			--log-level "${CKPT_SERVER_LOG:-warn}" </dev/null >/dev/null 2>>"$log") &
		srv_pid=$!
		# A server that was killed in a rollback finishes it before it listens.
		for ((i = 0; i < 2400; i++)); do
			[ -s "$ready" ] && break
			kill -0 "$srv_pid" 2>/dev/null || break
			sleep 0.05
		done
		[ -s "$ready" ] && break
		if kill -0 "$srv_pid" 2>/dev/null; then
			fatal "the embedded ckpt-server for job $job did not become ready in 120 s (log: $log)"
		fi
		wait "$srv_pid" 2>/dev/null
		srv_pid=
		why=$(tail -1 "$log" 2>/dev/null)
		# The server of the job's last run may still be on its way out.
		[[ $why == *"another server is listening there"* ]] && [ "$try" -lt 4 ] && { sleep 1; continue; }
		why=${why#ckpt-server\[*\]: }
		fatal "the embedded ckpt-server for job $job did not start: ${why#error: }"
	done
	rm -f "$ready"
}

stop_server() {
	[ -n "$srv_pid" ] || return 0
	kill -TERM "$srv_pid" 2>/dev/null
	wait "$srv_pid" 2>/dev/null
	srv_pid=
	[ -s "$RUNDIR/$job.log" ] || rm -f "$RUNDIR/$job.log"
}

# forget_job STATE [default]: the job finished (exit status 0): its
# checkpoints in the embedded server's STATE and its status file are of no
# more use. With "default", STATE itself goes too if no other job is left.
forget_job() {
	rm -rf "${1:?}/$job" "$RUNDIR/$job.status" "$RUNDIR/$job.log"
	[ "${2:-}" = default ] && rmdir "$1" 2>/dev/null
	return 0
}

# ---- the program ---------------------------------------------------------------------

child=
ivl_pid=
errfd=
# run_child CMD...: CMD in the background with the script's stdin, stdout
# and stderr; its PID (kept across exec) in <rundir>/<job>.pid. The usual
# signals and the checkpoint signal (CKSIG, if set) sent to the script are
# passed on to it. Until wait_child, the script's own stderr is fd $errfd:
# bash says "line N: PID Killed ..." on stderr when it reaps a program
# killed by a signal, which the exit status says anyway.
run_child() {
	local s
	for s in TERM INT HUP QUIT USR1 USR2 ${CKSIG:-}; do
		# shellcheck disable=SC2016 # $child when the signal comes
		trap '[ -n "$child" ] && kill -'"$s"' "$child" 2>/dev/null' "$s"
	done
	exec {errfd}>&2 2>/dev/null
	"$@" <&0 2>&"$errfd" {errfd}>&- &
	child=$!
	(umask 077 && echo "$child" >"$RUNDIR/$job.pid.tmp") && mv -f "$RUNDIR/$job.pid.tmp" "$RUNDIR/$job.pid" ||
		echo "$me: warning: cannot write $RUNDIR/$job.pid" >&"$errfd"
}

# wait_child: waits for the program; sets status to its exit status
# (128 + N if signal N killed it).
wait_child() {
	while :; do
		wait "$child"
		status=$?
		# wait returns early (status > 128) when a trapped signal arrives.
		kill -0 "$child" 2>/dev/null || break
	done
	trap - TERM INT HUP QUIT USR1 USR2 ${CKSIG:-}
	exec 2>&"$errfd" {errfd}>&-
	errfd=
}

# status_stamp FILE: changes whenever the shim replaces the status file (a
# new inode each time: it is renamed into place).
status_stamp() {
	stat -c '%i %Y %s' "$1" 2>/dev/null
	cat "$1" 2>/dev/null
}

# start_interval SECONDS: from now on, every SECONDS the checkpoint signal
# goes to the program, one checkpoint at a time: the next SECONDS start
# once the shim has written the outcome of the last one to the status file.
# A program that does not catch the signal (yet, or at all) is not sent it;
# one warning if it still does not after two periods.
start_interval() {
	local secs=$1 pid=$child st=$RUNDIR/$job.status sp= before misses=0
	(
		trap '[ -n "$sp" ] && kill "$sp" 2>/dev/null; exit 0' TERM
		while :; do
			sleep "$secs" &
			sp=$!
			wait "$sp"
			kill -0 "$pid" 2>/dev/null || exit 0
			# still the loader (ckpt-restart), or between exec and the shim
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ckpt-restore ] && continue
			if ! catches "$pid" "$CKSIG"; then
				misses=$((misses + 1))
				[ "$misses" = 2 ] &&
					echo "$me: pid $pid does not catch signal $(kill -l "$CKSIG") (CKPT_SIGNAL): no checkpoint sent" >&"${errfd:-2}"
				continue
			fi
			misses=0
			before=$(status_stamp "$st")
			kill -s "$CKSIG" "$pid" 2>/dev/null || exit 0
			while [ "$(status_stamp "$st")" = "$before" ]; do
				kill -0 "$pid" 2>/dev/null || exit 0
				sleep 0.1 &
				sp=$!
				wait "$sp"
			done
		done
	) &
	ivl_pid=$!
}

stop_interval() {
	[ -n "$ivl_pid" ] || return 0
	kill -TERM "$ivl_pid" 2>/dev/null
	wait "$ivl_pid" 2>/dev/null
	ivl_pid=
}

# drop_pid_file: removes <rundir>/<job>.pid if it still names our program.
drop_pid_file() {
	[ -n "$child" ] && [ "$(cat "$RUNDIR/$job.pid" 2>/dev/null)" = "$child" ] && rm -f "$RUNDIR/$job.pid"
}

# exit_as STATUS: exits with the program's status; a program killed by a
# signal kills the script with the same signal.
exit_as() {
	local sig
	trap - EXIT
	if [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then
		sig=$(($1 - 128))
		case "$sig" in
		9 | 19) ;; # KILL/STOP cannot be re-raised usefully; report the status
		*) trap - "$sig" 2>/dev/null; kill -s "$sig" $$ ;;
		esac
	fi
	exit "$1"
}
