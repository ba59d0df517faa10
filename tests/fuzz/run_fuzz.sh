#!/usr/bin/env bash
# run_fuzz.sh TARGET CORPUS — one short libFuzzer run, as a TAP test.
# New inputs go to a scratch corpus beside the binary (the committed one is
# read only); a crash leaves its input as crash-* in the build directory and
# fails the test. FUZZ_SECONDS bounds the run (default 20).
set -uo pipefail
target=$1
seeds=$2
name=$(basename "$target")
work="$(dirname "$target")/$name.corpus"
mkdir -p "$work"
secs=${FUZZ_SECONDS:-20}
log="$(dirname "$target")/$name.log"
"$target" -max_total_time="$secs" -seed=1 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$(dirname "$target")/$name-" \
    "$work" "$seeds" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
echo "# $name: ${execs:-0} executions in ${secs} s, corpus $(ls "$work" | wc -l) inputs"
if [ $rc -eq 0 ]; then
    echo "ok 1 - $name: no crash, leak or sanitizer report in ${execs:-0} executions"
else
    echo "not ok 1 - $name: libFuzzer exited $rc"
    grep -E "ERROR|SUMMARY|artifact|==[0-9]+==" "$log" | head -20 | sed 's/^/# /'
fi
echo "1..1"
