#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target of fuzz/ for FUZZ_SECS seconds each, one after the
# other, and prints the executions per target (docs/fuzzing.md).
#
#   FUZZ_SECS=60         seconds per target
#   FUZZ_TARGETS="a b"   only these targets (default: all of `cargo fuzz list`)
#   FUZZ_NICE=0          niceness of the fuzzers (19 on a shared machine)
#   FUZZ_SANITIZER=address  cargo-fuzz's sanitizer (none runs about twice as fast)
#
# Seeds live in fuzz/corpus/<target>/seed-* (committed, written by fuzz/seeds.py); what a run adds
# to the corpus stays next to them, ignored by git. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script exit non-zero after the remaining targets ran.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${FUZZ_SECS:-60}
NICE=${FUZZ_NICE:-0}
SANITIZER=${FUZZ_SANITIZER:-address}
CARGO=${CARGO:-cargo}

if ! "$CARGO" +nightly --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        echo "fuzz: installing the nightly toolchain (cargo-fuzz needs it)"
        rustup toolchain install nightly --profile minimal
    else
        echo "fuzz: a nightly Rust toolchain is needed (rustup toolchain install nightly)" >&2
        exit 1
    fi
fi
if ! "$CARGO" fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io"
    "$CARGO" install cargo-fuzz --locked
fi

bash scripts/patch-deps.sh

cd fuzz
# Release build with debug assertions: arithmetic overflow panics, as it does in `cargo test`.
FLAGS=(-O --debug-assertions --sanitizer "$SANITIZER")
"$CARGO" +nightly fuzz build "${FLAGS[@]}"

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a TARGETS <<<"$FUZZ_TARGETS"
else
    mapfile -t TARGETS < <("$CARGO" +nightly fuzz list)
fi

LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
failed=()
total=0
rows=()
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    echo "fuzz: $t for ${SECS}s"
    status=0
    # -timeout: an input that takes a minute is a hang (the HTTP targets' clients time out at
    # 20 s). -print_final_stats gives the execution count.
    nice -n "$NICE" "$CARGO" +nightly fuzz run "${FLAGS[@]}" "$t" -- \
        -max_total_time="$SECS" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
        >"$LOGS/$t.log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOGS/$t.log" | grep -o '[0-9]*$' | tail -1)
    execs=${execs:-0}
    files=$(find "corpus/$t" -type f | wc -l)
    seeds=$(find "corpus/$t" -type f -name 'seed-*' | wc -l)
    total=$((total + execs))
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        result="CRASH (see fuzz/artifacts/$t)"
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$LOGS/$t.log" | head -20 || true
        cp "$LOGS/$t.log" "artifacts/$t/last-run.log"
    else
        result="ok"
    fi
    rows+=("$(printf '%-22s %14s %6ss %8s %6s  %s' "$t" "$execs" "$SECS" "$files" "$seeds" "$result")")
done

echo
printf '%-22s %14s %7s %8s %6s  %s\n' target executions time corpus seeds result
printf '%s\n' "${rows[@]}"
printf '%-22s %14s\n' total "$total"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz: crashes in ${failed[*]}; inputs under fuzz/artifacts/, reproduce with" >&2
    echo "  cd fuzz && cargo +nightly fuzz run ${FLAGS[*]} <target> artifacts/<target>/<crash file>" >&2
    exit 1
fi
