#!/bin/bash
# soak.sh - a job on two servers killed with SIGKILL at random instants and
# restarted, many times over; every final output must equal an uninterrupted
# run's.
#
# The workload (tests/progs/soak_work.c) writes to /a on server A and /b on
# server B: appends, overwrite-in-place after reading, read-modify-write,
# files created, fsynced, renamed (also over others), unlinked and truncated;
# what it reads back feeds every later record, so a rollback to the wrong
# generation, or to different generations on the two servers, shows in the
# files. It runs under ckpt-run --mount --interval (checkpoints every
# SOAK_INTERVAL s, default 0.3). Each round is one job: it is killed with
# SIGKILL at a random instant (during a step, a checkpoint, or a restore),
# restarted with ckpt-restart --server A --server B, killed again, a few
# times, then let finish; its trees on both servers are compared with the
# trees of an uninterrupted run (itself compared with a local run). A kill
# before the job's first committed checkpoint leaves nothing to restart
# from: the round's directories are then emptied and the job run afresh.
#
# One cycle = one SIGKILL followed by a restart. SOAK_CYCLES (default 10;
# `make soak`: 200), SOAK_SEED (the random instants; printed), SOAK_STEPS
# (workload length, default 1500 steps of about 1.6 ms), SOAK_BALLAST_KB (its
# incompressible memory, default 2048: checkpoint images of ~2 MiB), SOAK_KEEP (directory
# where the trees of a diverging round are kept; default /tmp).
# Prints "soak: N cycles, N rounds, N divergences, N failures".
source "$(dirname "$0")/lib.sh"

CYCLES=${SOAK_CYCLES:-10}
SEED=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
STEPS=${SOAK_STEPS:-1500}
IVAL=${SOAK_INTERVAL:-0.3}
BALLAST=${SOAK_BALLAST_KB:-2048} # incompressible memory: checkpoints of ~2 MiB that take a while
KEEP=${SOAK_KEEP:-${TMPDIR:-/tmp}}
RANDOM=$SEED
RUN=$BIN/ckpt-run
RESTART=$BIN/ckpt-restart
CKPT=$BIN/ckpt
WORK=$PROGS/soak_work
export CKPT_RUN_DIR=$T/run
R=$CKPT_RUN_DIR
mkdir -p "$R" "$T/wd"
chmod 700 "$R"
cd "$T/wd" || exit 1
echo "soak: seed $SEED (SOAK_SEED=$SEED reproduces the instants), $CYCLES cycles, $STEPS steps, $BALLAST KiB ballast, interval $IVAL s"

WRAPPERS=()
stop_wrappers() {
	local p c
	for p in "${WRAPPERS[@]}"; do alive "$p" && kill -TERM "$p" 2>/dev/null; done
	for p in "${WRAPPERS[@]}"; do
		alive "$p" || continue
		wait_gone "$p" 10 && continue
		for c in $(pgrep -P "$p"); do kill -KILL "$c" 2>/dev/null; done
	done
}
trap 'stop_wrappers; cleanup_all' EXIT

# rnd_s LO HI: a random number of milliseconds in [LO, HI], in seconds.
rnd_s() { awk -v ms=$(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1))) 'BEGIN { printf "%.3f", ms / 1000 }'; }

need_server A "$T/rootA" --state-dir "$T/stateA" --log-level warn
need_server B "$T/rootB" --state-dir "$T/stateB" --log-level warn
SRV=(--server "unix:$SOCK_A" --server "unix:$SOCK_B")
MOUNTS=(--mount "/a=unix:$SOCK_A" --mount "/b=unix:$SOCK_B")

# launch JOB DIR: ckpt-run of the workload writing /a/DIR and /b/DIR, in the
# background (stdout and stderr appended to $T/JOB.out, .err); sets WPID.
launch() {
	rm -f "$R/$1.pid"
	(in_clean "$RUN" "${MOUNTS[@]}" --job "$1" --interval "$IVAL" -- \
		"$WORK" "/a/$2" "/b/$2" "$STEPS" 7 1500 "$BALLAST") </dev/null >>"$T/$1.out" 2>>"$T/$1.err" &
	WPID=$!
	WRAPPERS+=("$WPID")
}

# restart JOB: ckpt-restart in the background; sets WPID.
restart() {
	rm -f "$R/$1.pid"
	(in_clean "$RESTART" "${SRV[@]}" --job "$1" --interval "$IVAL") </dev/null >>"$T/$1.out" 2>>"$T/$1.err" &
	WPID=$!
	WRAPPERS+=("$WPID")
}

# started JOB: waits (30 s at most) for the job's pid file; sets PID. False,
# with WRC the wrapper's exit status, if the wrapper ended first.
started() {
	local i
	PID='' WRC=''
	for ((i = 0; i < 1500; i++)); do
		PID=$(cat "$R/$1.pid" 2>/dev/null) && [ -n "$PID" ] && return 0
		if ! alive "$WPID"; then
			wait "$WPID"
			WRC=$?
			return 1
		fi
		sleep 0.02
	done
	WRC=hung
	return 1
}

# committed JOB: true if some server lists a committed generation of JOB.
committed() {
	local s
	for s in "$SOCK_A" "$SOCK_B"; do
		"$CKPT" list --server "unix:$s" --job "$1" 2>/dev/null | awk '$3 == "committed" { f = 1 } END { exit !f }' &&
			return 0
	done
	return 1
}

# keep_round JOB DIR: copies a failed round's trees, checkpoints, logs and the
# reference out of $T (removed at exit); prints where.
keep_round() {
	local k
	k=$(mktemp -d "$KEEP/ckpt-soak-divergence.XXXXXX")
	cp -a "$T/rootA/$2" "$k/a" 2>/dev/null
	cp -a "$T/rootB/$2" "$k/b" 2>/dev/null
	cp -a "$T/stateA/$1" "$k/stateA" 2>/dev/null
	cp -a "$T/stateB/$1" "$k/stateB" 2>/dev/null
	cp -a "$T/local" "$k/reference"
	cp "$T/$1.out" "$T/$1.err" "$T/$1.events" "$T/A.log" "$T/B.log" "$k/" 2>/dev/null
	"$CKPT" list --server "unix:$SOCK_A" --job "$1" >"$k/list-A" 2>&1
	"$CKPT" list --server "unix:$SOCK_B" --job "$1" >"$k/list-B" 2>&1
	echo "    kept in $k (seed $SEED)"
}

# same_trees DIR: /a/DIR and /b/DIR on the servers hold what the local run left.
same_trees() {
	[ -d "$T/rootA/$1" ] && [ -d "$T/rootB/$1" ] || return 1
	[ "$(tree_list "$T/rootA/$1")" = "$(tree_list "$T/local/a")" ] &&
		[ "$(tree_list "$T/rootB/$1")" = "$(tree_list "$T/local/b")" ] &&
		diff -r "$T/rootA/$1" "$T/local/a" >/dev/null && diff -r "$T/rootB/$1" "$T/local/b" >/dev/null
}

# survivors DIR: after the program writing /a/DIR was killed and its wrapper
# has exited, any process of it still there (waited for up to 2 s), one
# "pid P (state S, parent P, waiting in W)" each; they are then killed. A
# process of the program that outlives its SIGKILL keeps its sessions open:
# the servers refuse to roll the job back while it holds files open.
survivors() {
	local i p left=
	for ((i = 0; i < 40; i++)); do
		left=
		for p in $(pgrep -f -- "$WORK /a/$1 /b/$1 "); do
			[ "$(cat "/proc/$p/comm" 2>/dev/null)" = soak_work ] && left+=" $p"
		done
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	for p in $left; do
		echo -n "pid $p (state $(awk '/^State:/ { print $2 }' "/proc/$p/status"), parent $(awk '/^PPid:/ { print $2 }' "/proc/$p/status")," \
			"waiting in $(cat "/proc/$p/wchan" 2>/dev/null), fds: $(ls "/proc/$p/fd" 2>/dev/null | tr '\n' ' ')) "
		kill -KILL "$p" 2>/dev/null
	done
	return 1
}

# ---- the references: a local run, and an uninterrupted run with checkpoints ---------------
mkdir -p "$T/local"
t0=$(now)
if ! "$WORK" "$T/local/a" "$T/local/b" "$STEPS" 7 1500 "$BALLAST" >"$T/local.out" 2>"$T/local.err"; then
	fail "the workload does not run locally: $(cat "$T/local.err")"
	exit 1
fi
REF_S=$(elapsed "$t0")
launch ref ref
wait_gone "$WPID" 120
if [ "$RC" = 0 ] && same_trees ref; then
	n=$(grep -c 'checkpoint: job ref generation' "$T/ref.err")
	pass "an uninterrupted run with $n checkpoints leaves on both servers what a local run leaves (${REF_S}s locally)"
else
	fail "the uninterrupted run: exit $RC, or its trees differ from a local run's: $(tail -3 "$T/ref.err")"
	same_tree "uninterrupted run, server A" "$T/local/a" "$T/rootA/ref"
	same_tree "uninterrupted run, server B" "$T/local/b" "$T/rootB/ref"
	exit 1
fi

# ---- the rounds ------------------------------------------------------------------------------
cycles=0 rounds=0 divergences=0 failures=0 fresh=0 in_ckpt=0 in_restore=0
t_soak=$(now)
while [ "$cycles" -lt "$CYCLES" ]; do
	rounds=$((rounds + 1))
	job=soak$rounds dir=r$rounds
	ev=$T/$job.events
	kills=$((3 + RANDOM % 4))
	[ $((CYCLES - cycles)) -lt "$kills" ] && kills=$((CYCLES - cycles))
	launch "$job" "$dir"
	echo "launch" >"$ev"
	bad='' over=''
	k=0
	while [ -z "$bad$over" ]; do
		if ! started "$job"; then
			if [ "$WRC" = 0 ]; then
				over=1 # finished
			elif [ "$WRC" = 1 ] && grep -q 'holds no generation' "$T/$job.err" && ! committed "$job"; then
				# killed before any checkpoint was committed: nothing to
				# restart from, so the job starts again from nothing
				fresh=$((fresh + 1))
				echo "fresh run (no committed generation)" >>"$ev"
				rm -rf "${T:?}/rootA/$dir" "${T:?}/rootB/$dir"
				launch "$job" "$dir"
			else
				bad="the job did not start (wrapper exit $WRC): $(tail -3 "$T/$job.err")"
			fi
			continue
		fi
		if [ "$k" -ge "$kills" ]; then # enough: let it finish
			wait_gone "$WPID" 120
			[ "$RC" = 0 ] && over=1 || bad="the last run exited $RC: $(tail -3 "$T/$job.err")"
			continue
		fi
		# the instant: anywhere in the first 1.2 s; one time in eight at once
		# (the loader may still be restoring the process); one in four 0-20 ms
		# after a checkpoint signal of our own (a checkpoint takes ~10 ms)
		what=
		case $((RANDOM % 8)) in
		0) d=$(rnd_s 0 60) ;;
		1 | 2) d=$(rnd_s 0 1000) what="aimed at a checkpoint" ;;
		*) d=$(rnd_s 0 1200) ;;
		esac
		sleep "$d"
		if [ -n "$what" ]; then
			kill -USR1 "$PID" 2>/dev/null
			d2=$(rnd_s 0 20)
			sleep "$d2"
			d="$d+$d2"
		fi
		what="$(cat "/proc/$PID/comm" 2>/dev/null)${what:+, $what}"
		ls "$T/stateA/$job" "$T/stateB/$job" 2>/dev/null | grep -q '\.tmp$' && what="$what, during a checkpoint"
		kill -KILL "$PID" 2>/dev/null
		wait_gone "$WPID" 30
		if [ "$RC" = 0 ]; then # it finished before the kill
			over=1
			continue
		fi
		k=$((k + 1))
		cycles=$((cycles + 1))
		[[ $what == ckpt-restore* ]] && in_restore=$((in_restore + 1))
		[[ $what == *checkpoint* ]] && in_ckpt=$((in_ckpt + 1))
		echo "kill after ${d}s ($what): wrapper $RC; status: $(cat "$R/$job.status" 2>/dev/null)" >>"$ev"
		if [ "$RC" != 137 ]; then
			bad="killed: the wrapper exited $RC: $(tail -3 "$T/$job.err")"
			continue
		fi
		if ! left=$(survivors "$dir"); then
			bad="a process of the program outlived its SIGKILL ($what): $left"
			continue
		fi
		restart "$job"
		echo "restart" >>"$ev"
	done
	if [ -n "$bad" ]; then
		failures=$((failures + 1))
		fail "round $rounds (job $job): $bad"
		sed 's/^/    /' "$ev"
		keep_round "$job" "$dir"
	elif ! same_trees "$dir"; then
		divergences=$((divergences + 1))
		fail "round $rounds (job $job): the final files differ from an uninterrupted run's"
		diff <(tree_list "$T/local/a") <(tree_list "$T/rootA/$dir") | head -10 | sed 's/^/    A: /'
		diff <(tree_list "$T/local/b") <(tree_list "$T/rootB/$dir") | head -10 | sed 's/^/    B: /'
		diff -r "$T/local/a" "$T/rootA/$dir" 2>&1 | head -6 | sed 's/^/    /'
		diff -r "$T/local/b" "$T/rootB/$dir" 2>&1 | head -6 | sed 's/^/    /'
		sed 's/^/    /' "$ev"
		keep_round "$job" "$dir"
	fi
	[ -z "${SOAK_VERBOSE:-}" ] || { echo "round $rounds: $(elapsed "$t_soak") s"; sed "s/^/    /" "$ev"; }
done
secs=$(elapsed "$t_soak")
echo "soak: $cycles cycles, $rounds rounds, $divergences divergences, $failures failures" \
	"($fresh fresh starts after a kill before the first checkpoint, $in_ckpt kills aimed at or seen during a checkpoint," \
	"$in_restore during a restore; $secs s; seed $SEED)"
if [ "$cycles" -ge "$CYCLES" ] && [ "$divergences" = 0 ] && [ "$failures" = 0 ]; then
	pass "soak: $cycles SIGKILL/restart cycles in $rounds rounds, 0 divergences ($secs s)"
else
	fail "soak: $cycles cycles (wanted $CYCLES), $divergences divergences, $failures failures"
fi
stop_server A || fail "server A did not stop cleanly"
stop_server B || fail "server B did not stop cleanly"
finish
