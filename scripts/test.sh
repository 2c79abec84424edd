#!/usr/bin/env bash
# Installs what the tests need and runs all of them: formatting, lints, the
# dependency policy (cargo deny), unit tests, decision cases, the end-to-end
# tests against a real Synapse with real clients (matrix-nio, matrix-js-sdk),
# the hostile-input suite, every benchmark run once, and a fuzzing smoke run (SECTORGATE_FUZZ_SECONDS
# per target, default 60).
#
#   scripts/test.sh
#
# Needs a Rust toolchain (cargo), python3 and Node.js with npm. The Python
# virtualenv and npm packages are cached in ${SECTORGATE_CACHE:-~/.cache/sectorgate}.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> installing test dependencies (cached)" >&2
bash scripts/deps.sh >/dev/null

echo "==> no secrets or databases tracked" >&2
bash scripts/check-secrets.sh

echo "==> deployment artefacts (image, Kubernetes, compose, systemd)" >&2
bash scripts/check-deploy.sh

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check

echo "==> cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo deny (licenses, duplicate versions, sources, advisories)" >&2
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny@0.20.2
cargo deny --locked check bans licenses sources
# The RustSec database lives on github.com; where it cannot be fetched, say
# so rather than pass silently.
if cargo deny fetch db >/dev/null 2>&1; then
    cargo deny --locked check --disable-fetch advisories
else
    echo "warning: advisories NOT checked: the RustSec database cannot be fetched from here" >&2
fi

echo "==> cargo test" >&2
cargo test --workspace --locked

echo "==> benchmarks, each run once (criterion's test mode)" >&2
cargo test --workspace --locked --benches

echo "==> fuzzing, ${SECTORGATE_FUZZ_SECONDS:-60}s per target" >&2
bash scripts/fuzz.sh "${SECTORGATE_FUZZ_SECONDS:-60}"
