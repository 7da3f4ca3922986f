#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ on the stable toolchain and runs
# them one after another (see README, "Fuzzing").
#
#   scripts/fuzz.sh [--time SECONDS | --runs N] [--nice] [TARGET...]
#
#   --time S    run each target for S seconds (default 20)
#   --runs N    run each target for N executions instead
#   --nice      run the fuzzers under nice -n 10 (long campaigns)
#   TARGET      client_frame quorum_packet election snapshot_file
#               txn_log_file snap_stream (default: all of them)
#
# Each target starts from its committed corpus (fuzz/corpus/TARGET, never
# written to; new inputs go to fuzz/target/corpus/TARGET) and fails the
# script on a panic, a hang (one input running over 10 s), RSS over
# 2 GiB, or one allocation above the target's bound (fuzz/src/lib.rs).
# A failing input is saved as fuzz/artifacts/TARGET/crash-* (or
# timeout-*, oom-*); replay it with
#   fuzz/target/<host>/release/TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(client_frame quorum_packet election snapshot_file txn_log_file snap_stream key_store_file)
mode=(-max_total_time=20)
nice=()
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) mode=(-max_total_time="$2"); shift 2 ;;
        --runs) mode=(-runs="$2"); shift 2 ;;
        --nice) nice=(nice -n 10); shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")

for tool in cargo rustc c++; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "scripts/fuzz.sh: $tool is required (libfuzzer-sys builds libFuzzer with the C++ compiler)" >&2
        exit 2
    fi
done

host=$(rustc -vV | sed -n 's/^host: //p')
# cargo-fuzz's instrumentation, without -Zsanitizer (nightly only): the
# SanitizerCoverage pass libFuzzer reads its coverage from, with
# comparison tracing, plus debug assertions and overflow checks. With an
# explicit --target these flags reach the targets' code but not build
# scripts.
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
echo "== building the fuzz targets ($host)"
cargo build --release --manifest-path fuzz/Cargo.toml --target "$host" --target-dir fuzz/target \
    $(printf -- '--bin %s ' "${targets[@]}")

# The file targets write their input to a file here on every execution.
scratch=$(mktemp -d /dev/shm/zkserver-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ZKSERVER_FUZZ_DIR="$scratch"

failed=()
for t in "${targets[@]}"; do
    bin="fuzz/target/$host/release/$t"
    seeds="fuzz/corpus/$t"
    work="fuzz/target/corpus/$t"
    mkdir -p "$work" "fuzz/artifacts/$t" "$seeds"
    log="fuzz/target/$t.log"
    echo "== fuzzing $t (${mode[*]})"
    if "${nice[@]}" "$bin" "$work" "$seeds" "${mode[@]}" \
        -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
        echo "$t: ${runs:-?} executions in ${secs:-?} s, no crash"
    else
        echo "$t: FAILED, see $log:" >&2
        tail -30 "$log" >&2
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that failed: ${failed[*]}" >&2
    exit 1
fi
