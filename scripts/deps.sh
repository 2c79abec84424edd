#!/usr/bin/env bash
# Install the dependencies of the integration tests, idempotently.
#
#   * a Python virtualenv holding Synapse and matrix-nio (scripts/requirements-test.txt),
#     kept under the cache directory and named after a hash of the requirements
#     and of the Python version, so changing either builds a fresh one;
#   * the npm packages of gateway/server/tests/clients (matrix-js-sdk);
#   * the openssl command, libfaketime and chromium (Debian packages, installed
#     as root).
#
# Cache directory: ${SECTORGATE_CACHE:-$HOME/.cache/sectorgate}.
# Re-running is cheap: each part writes a marker only after it succeeded and is
# skipped while its marker matches. Concurrent runs serialise on a lock file.
#
# The last line printed on stdout is `SECTORGATE_VENV=<path>`; everything else
# goes to stderr. `--python-only` skips the npm packages (the demo needs none).
set -euo pipefail

WITH_NPM=1
case "${1:-}" in
    --python-only) WITH_NPM=0 ;;
    "") ;;
    *) printf 'deps: unknown option %s (known: --python-only)\n' "$1" >&2; exit 2 ;;
esac

# Keep the real stdout on fd 3 for the final result; send all chatter to stderr.
exec 3>&1 1>&2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/scripts/requirements-test.txt"
CLIENTS_DIR="$ROOT/gateway/server/tests/clients"
CACHE="${SECTORGATE_CACHE:-$HOME/.cache/sectorgate}"
PYTHON="${PYTHON:-python3}"
LOCK_TIMEOUT_SECS=900

log() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*"; exit 1; }
# Run a command without our result fd (3) and lock fd (9), so that nothing it
# leaves behind can hold the caller's stdout pipe or the lock.
run() { "$@" 3>&- 9>&-; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
command -v flock >/dev/null || die "flock not found (util-linux)"
# Installs a Debian package (as root) unless `$2`, a command or a path,
# shows it is there already.
need_package() {
    local package="$1" present="$2" why="$3"
    if command -v "$present" >/dev/null 2>&1 || [ -e "$present" ]; then
        return
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing $package (Debian package): $why"
        run apt-get install -y -q "$package" >&2 || die "cannot install $package"
    else
        die "$package not found (Debian: apt-get install $package): $why"
    fi
}

if [ "$WITH_NPM" = 1 ]; then
    need_package openssl openssl "the signed-federation-list tests make Brainpool keys with it"
    need_package libfaketime /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
        "the clock-jump test runs the gateway under it"
    need_package chromium chromium "the conformance test renders the HTML report in it"
    need_package libmagic1 /usr/lib/x86_64-linux-gnu/libmagic.so.1 "matrix-commander reads file types with it"
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/deps.lock"
if ! flock -w "$LOCK_TIMEOUT_SECS" 9; then
    die "timed out after ${LOCK_TIMEOUT_SECS}s waiting for $CACHE/deps.lock"
fi

# --- Python virtualenv -------------------------------------------------------

py_version="$("$PYTHON" -c 'import sys; print(sys.version)')"
venv_hash="$( { cat "$REQUIREMENTS"; echo "$py_version"; } | sha256sum | cut -c1-12)"
VENV="$CACHE/venv-$venv_hash"
VENV_MARKER="$VENV/.sectorgate-installed"

if [[ -f "$VENV_MARKER" ]]; then
    log "python venv up to date: $VENV"
else
    # A directory without the marker is a half-finished install: start over.
    rm -rf "$VENV"
    log "creating python venv $VENV"
    run "$PYTHON" -m venv "$VENV"
    if ! run "$VENV/bin/python" -m pip install --quiet --no-input -r "$REQUIREMENTS"; then
        rm -rf "$VENV"
        die "pip install -r $REQUIREMENTS failed"
    fi
    run "$VENV/bin/python" -c 'import synapse, nio' || { rm -rf "$VENV"; die "venv import check failed"; }
    printf '%s\n' "$venv_hash" >"$VENV_MARKER"
    log "python venv ready: $VENV"
fi

# --- npm packages for the JavaScript client flow -----------------------------

if (( WITH_NPM )); then
    command -v npm >/dev/null || die "npm not found (Node.js 20 or newer is required)"

    npm_state() {
        # What node_modules must have been installed from.
        cat "$CLIENTS_DIR/package.json" "$CLIENTS_DIR/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16
    }
    NPM_MARKER="$CLIENTS_DIR/node_modules/.sectorgate-installed"

    if [[ -f "$NPM_MARKER" && "$(cat "$NPM_MARKER")" == "$(npm_state)" ]]; then
        log "npm packages up to date: $CLIENTS_DIR/node_modules"
    else
        log "installing npm packages in $CLIENTS_DIR"
        rm -f "$NPM_MARKER"
        if [[ -f "$CLIENTS_DIR/package-lock.json" ]]; then
            (cd "$CLIENTS_DIR" && run npm ci --no-audit --no-fund)
        else
            (cd "$CLIENTS_DIR" && run npm install --no-audit --no-fund)
        fi
        # Hash after installing: `npm install` may just have written the lock file.
        npm_state >"$NPM_MARKER"
        log "npm packages ready"
    fi
fi

printf 'SECTORGATE_VENV=%s\n' "$VENV" >&3
