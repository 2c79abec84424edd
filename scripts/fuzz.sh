#!/usr/bin/env bash
# Fuzzes what parses network input (request framing and heads,
# classification, JSON body checks, the policy core on event contents,
# federation transactions and signed lists, audit records) with cargo-fuzz
# (libFuzzer), on the stable toolchain (no sanitizer). The targets run two
# at a time, one per core.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   # default 60
#
# Crashes are written to fuzz/artifacts/<target>/, each target's output to
# fuzz/artifacts/<target>.log; the script fails if any target finds one.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
targets=(head classify json_depth decide federation audit)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
echo "==> building the fuzz targets" >&2
cargo fuzz build --sanitizer none >&2
mkdir -p artifacts
run() {
    local target="$1"
    mkdir -p "corpus/$target"
    cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" >"artifacts/$target.log" 2>&1
}
failed=()
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    pair=("${targets[@]:i:2}")
    echo "==> fuzzing ${pair[*]} for ${seconds}s" >&2
    pids=()
    for target in "${pair[@]}"; do
        run "$target" &
        pids+=("$!")
    done
    for j in "${!pids[@]}"; do
        target="${pair[j]}"
        if wait "${pids[j]}"; then
            echo "    $target: $(grep -o 'Done [0-9]* runs' "artifacts/$target.log" | tail -1)" >&2
        else
            echo "    $target: FAILED (artifacts/$target.log)" >&2
            tail -30 "artifacts/$target.log" >&2
            failed+=("$target")
        fi
    done
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: ${failed[*]} found a crash; see fuzz/artifacts/" >&2
    exit 1
fi
