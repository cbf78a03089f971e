#!/usr/bin/env bash
# Inside a Slurm job without GRAINVM_HOME, grainvm keeps its VMs in a home of
# the job's own, $TMPDIR/grainvm-UID-jobID (issue 17).  Its name is
# predictable and TMPDIR is shared: another local user who made it first
# (a directory of theirs, one others can write to, a symlink to elsewhere)
# must get it refused, naming it, with nothing written through it.  (No
# Slurm here: SLURM_JOB_ID is what grainvm reads of a job.)
. "$(dirname "$0")/lib.sh"

p=$(new_project "$PREFIX-jh")
cd "$p"
mkdir -m 1777 "$T/tmp"
export GRAINVM_CACHE_DIR=$T/cache
job() { # JOBID CMD...: grainvm as inside Slurm job JOBID
	local id=$1
	shift
	env -u GRAINVM_HOME TMPDIR="$T/tmp" SLURM_JOB_ID="$id" "$@"
}
uid=$(id -u)

# The home is made private and used.
expect_code 0 job 7001 "$GRAINVM" up --dry-run
[ "$(stat -c %a "$T/tmp/grainvm-$uid-job7001")" = 700 ] || fail "home not 0700"
expect_code 0 job 7001 "$GRAINVM" list
[ ! -e "$GRAINVM_HOME/run/$PREFIX-jh" ] || fail "the job used GRAINVM_HOME's default instead"

# Another user's directory.
mkdir -m 700 "$T/tmp/grainvm-$uid-job7002"
chown nobody "$T/tmp/grainvm-$uid-job7002"
expect_code 2 job 7002 "$GRAINVM" up --dry-run
echo "$OUT" | grep -q "^grainvm: the Slurm job's grainvm home (GRAINVM_HOME sets another): $T/tmp/grainvm-$uid-job7002 belongs to uid [0-9]*, not to uid $uid" ||
	fail "another user's home: $OUT"

# A directory others can write to.
mkdir -m 777 "$T/tmp/grainvm-$uid-job7003"
expect_code 2 job 7003 "$GRAINVM" up --dry-run
echo "$OUT" | grep -q "grainvm-$uid-job7003 has mode 0777, not 0700" || fail "world-writable home: $OUT"

# A symlink to a directory of ours: not followed, nothing made there.
mkdir -m 700 "$T/elsewhere"
ln -s "$T/elsewhere" "$T/tmp/grainvm-$uid-job7004"
expect_code 2 job 7004 "$GRAINVM" up --dry-run
echo "$OUT" | grep -q "grainvm-$uid-job7004 is a symlink, not a directory" || fail "symlinked home: $OUT"
[ -z "$(ls -A "$T/elsewhere")" ] || fail "written through the symlink: $(ls -A "$T/elsewhere")"

note "ok"
