#!/usr/bin/env bash
# Installs what the tests need and runs all of them: formatting, lints, unit
# tests, decision cases, and the end-to-end tests against a real Synapse with
# real clients (matrix-nio, matrix-js-sdk).
#
#   scripts/test.sh
#
# Needs a Rust toolchain (cargo), python3 and Node.js with npm. The Python
# virtualenv and npm packages are cached in ${SECTORGATE_CACHE:-~/.cache/sectorgate}.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> installing test dependencies (cached)" >&2
bash scripts/deps.sh >/dev/null

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check

echo "==> cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test" >&2
cargo test --workspace --locked
