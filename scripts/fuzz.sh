#!/usr/bin/env bash
# Fuzzes what parses network input (classification, JSON body checks, the
# policy core on event contents, federation transactions and signed lists) with
# cargo-fuzz (libFuzzer), on the stable toolchain (no sanitizer).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   # default 60
#
# Crashes are written to fuzz/artifacts/<target>/; the script fails if any.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
for target in classify json_depth decide federation audit; do
    mkdir -p "corpus/$target"
    echo "==> fuzzing $target for ${seconds}s" >&2
    cargo fuzz run --sanitizer none "$target" "corpus/$target" -- -max_total_time="$seconds"
done
