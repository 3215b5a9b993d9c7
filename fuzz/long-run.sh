#!/usr/bin/env bash
# Long fuzz runs, one target after another (not run in CI; CI runs the 30-second smoke).
#
#   fuzz/long-run.sh [-n RUNS] [-t SECONDS] [TARGET...]
#
# Each target (default: all of them) runs until RUNS executions (default 10,000,000) or SECONDS
# of wall clock (default 0: no time bound), whichever comes first, at `nice -n 10` so it yields
# to builds, on stable (`--sanitizer none`). Seeds the corpora first (seed.sh). The full libFuzzer
# output goes to fuzz/logs/<target>.log; the summary line per target gives executions, executions
# per second, and the edges (`cov`) and features (`ft`) covered at the end. A failure stops the
# script with libFuzzer's status; the input is then in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"

runs=10000000
seconds=0
while getopts "n:t:" opt; do
    case "$opt" in
        n) runs="$OPTARG" ;;
        t) seconds="$OPTARG" ;;
        *) echo "usage: $0 [-n RUNS] [-t SECONDS] [TARGET...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ "$#" -eq 0 ]; then
    set -- $(cargo fuzz list)
fi

./seed.sh
mkdir -p logs
for target in "$@"; do
    log="logs/$target.log"
    bound="up to $runs runs"
    [ "$seconds" != 0 ] && bound="$bound, at most $seconds s"
    echo "== $target: $bound (log: fuzz/$log)"
    nice -n 10 cargo fuzz run "$target" --sanitizer none -- \
        -runs="$runs" -max_total_time="$seconds" -max_len=16384 -print_final_stats=1 \
        >"$log" 2>&1 || {
        status=$?
        tail -n 30 "$log" >&2
        echo "== $target FAILED (status $status); see fuzz/$log and fuzz/artifacts/$target/" >&2
        exit "$status"
    }
    # libFuzzer's last status line holds cov/ft; its final stats hold runs and speed.
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    echo "== $target: clean, $executions executions, $speed exec/s, cov $cov, ft $ft, corpus $corp"
done
