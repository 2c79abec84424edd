#!/usr/bin/env bash
# Side-by-side benchmark of the proxy spine.
#
# Three targets answer the same two loads, round after round:
#   direct      wrk -> upstream nginx                 (the floor)
#   nginx       wrk -> nginx proxy_pass -> upstream   (the reference proxy)
#   sectorgate  wrk -> sectorgate -> upstream         (the gateway under test)
#   passthrough wrk -> the gateway's HTTP path alone -> upstream (no policy,
#               no audit: gateway/proxy/examples/passthrough.rs; on request)
# The upstream is an nginx that answers 200 '{}' to everything, so the
# figures measure the proxies, not a homeserver.
#
# The load generator is pinned to one core, every server to another, and the
# proxies' CPU time is read from /proc/PID/stat before and after each run.
# Results go to stdout and into docs/benchmarks.md between the
# <!-- bench:begin --> and <!-- bench:end --> markers.
#
# Run `scripts/bench-proxy.sh --help` for the options.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/bench-proxy.sh [options]

Options:
  --rounds N            rounds of every (load, target) pair (default 3)
  --duration SECS       seconds per measured run (default 10)
  --connections N       open connections held by wrk (default 32)
  --warmup SECS         unrecorded warm-up per (load, target) before round 1
                        (default 2, 0 to skip)
  --only LIST           comma-separated targets to run, from
                        direct,nginx,sectorgate,sectorgate-tim,sectorgate-disk,
                        passthrough (default direct,nginx,sectorgate,sectorgate-tim)
  --loads LIST          comma-separated loads, from put,get (default put,get)
  --audit-on-disk       also run "sectorgate-disk": a second gateway whose
                        audit database lives on disk instead of /dev/shm
  --docs FILE           markdown file to update (default docs/benchmarks.md)
  --no-docs             print the results only, leave the docs alone
  --keep-tmp            keep the work directory (configs, logs, raw results)
  --before BIN          also run "before-tim": the gateway binary BIN (an
                        earlier build) under healthcare-tim-pro, so that a
                        change is measured side by side with the build before it
  --open-loop RATES     after the rounds, load each target at a fixed rate
                        (oha, open loop, latency-corrected) for every rate in
                        RATES (requests/s, comma-separated; "half" is half of
                        nginx's median req/s under that load in this run) and
                        report p50, p99, what each target adds over direct,
                        and CPU per request at that rate
  --perf                after the rounds, profile "sectorgate" under each load
                        with perf (cpu-clock samples with call stacks) and
                        report the audit path's share of its CPU per request
  -h, --help            show this help

Environment:
  SECTORGATE_BIN        gateway binary (default
                        ${CARGO_TARGET_DIR:-target}/release/sectorgate, built
                        with `cargo build --release -p sectorgate` when missing)
  PASSTHROUGH_BIN       the "passthrough" binary (default
                        ${CARGO_TARGET_DIR:-target}/release/examples/passthrough,
                        built when missing)
  BENCH_GEN_CPU         core for wrk (default 0)
  BENCH_PROXY_CPU       core for the proxies and the upstream (default 1)
  BENCH_UPSTREAM_CPU    core for the upstream alone (default BENCH_PROXY_CPU;
                        BENCH_GEN_CPU gives each proxy a core of its own)
  BENCH_TMPDIR          where the disk work directory is made (default /var/tmp)
  BENCH_AUDIT_STORE     the gateways' audit store: journal (default, as the
                        gateway's own) or sqlite
  BENCH_BEFORE_AUDIT_STORE
                        the audit store of "before-tim" (default
                        BENCH_AUDIT_STORE); with --before set to the same
                        binary, two stores are measured side by side
EOF
}

die() {
    echo "bench-proxy: error: $*" >&2
    exit 1
}

note() {
    echo "bench-proxy: $*" >&2
}

is_uint() {
    [[ "$1" =~ ^[0-9]+$ ]]
}

# ---------------------------------------------------------------- options

ROUNDS=3
DURATION=10
CONNECTIONS=32
WARMUP=2
SETTLE=1
ONLY=""
LOADS="put,get"
AUDIT_ON_DISK=0
DOCS_FILE="docs/benchmarks.md"
WRITE_DOCS=1
KEEP_TMP=0
PERF=0
BEFORE_BIN=""
AUDIT_STORE="${BENCH_AUDIT_STORE:-journal}"
BEFORE_AUDIT_STORE="${BENCH_BEFORE_AUDIT_STORE:-$AUDIT_STORE}"
OPEN_LOOP=""
BODY_BYTES=700
# The open-loop load generator, installed with cargo when missing.
OHA_VERSION=1.16.0

while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="${2:?--rounds needs a value}"; shift 2 ;;
        --rounds=*) ROUNDS="${1#*=}"; shift ;;
        --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
        --duration=*) DURATION="${1#*=}"; shift ;;
        --connections) CONNECTIONS="${2:?--connections needs a value}"; shift 2 ;;
        --connections=*) CONNECTIONS="${1#*=}"; shift ;;
        --warmup) WARMUP="${2:?--warmup needs a value}"; shift 2 ;;
        --warmup=*) WARMUP="${1#*=}"; shift ;;
        --only) ONLY="${2:?--only needs a value}"; shift 2 ;;
        --only=*) ONLY="${1#*=}"; shift ;;
        --loads) LOADS="${2:?--loads needs a value}"; shift 2 ;;
        --loads=*) LOADS="${1#*=}"; shift ;;
        --audit-on-disk) AUDIT_ON_DISK=1; shift ;;
        --docs) DOCS_FILE="${2:?--docs needs a value}"; shift 2 ;;
        --docs=*) DOCS_FILE="${1#*=}"; shift ;;
        --no-docs) WRITE_DOCS=0; shift ;;
        --keep-tmp) KEEP_TMP=1; shift ;;
        --perf) PERF=1; shift ;;
        --before) BEFORE_BIN="${2:?--before needs a value}"; shift 2 ;;
        --before=*) BEFORE_BIN="${1#*=}"; shift ;;
        --open-loop) OPEN_LOOP="${2:?--open-loop needs a value}"; shift 2 ;;
        --open-loop=*) OPEN_LOOP="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

is_positive() {
    is_uint "$1" && (( 10#$1 >= 1 ))
}
is_positive "$ROUNDS" || die "--rounds must be a positive integer"
is_positive "$DURATION" || die "--duration must be a positive number of seconds"
is_positive "$CONNECTIONS" || die "--connections must be a positive integer"
is_uint "$WARMUP" || die "--warmup must be a number of seconds"

if [[ -z "$ONLY" ]]; then
    ONLY="direct,nginx,sectorgate,sectorgate-tim"
    (( AUDIT_ON_DISK )) && ONLY+=",sectorgate-disk"
fi
TARGETS=()
IFS=',' read -r -a _only <<<"$ONLY"
for t in "${_only[@]}"; do
    case "$t" in
        direct|nginx|sectorgate|sectorgate-tim|sectorgate-disk|passthrough) ;;
        "") continue ;;
        *) die "unknown target in --only: $t (known: direct, nginx, sectorgate, sectorgate-tim, sectorgate-disk, passthrough)" ;;
    esac
    [[ " ${TARGETS[*]-} " == *" $t "* ]] || TARGETS+=("$t")
done
(( ${#TARGETS[@]} > 0 )) || die "--only selects no target"
# The disk variant is requested either way round.
[[ " ${TARGETS[*]} " == *" sectorgate-disk "* ]] && AUDIT_ON_DISK=1
if (( AUDIT_ON_DISK )) && [[ " ${TARGETS[*]} " != *" sectorgate-disk "* ]]; then
    TARGETS+=("sectorgate-disk")
fi
if [[ -n "$BEFORE_BIN" ]]; then
    [[ -x "$BEFORE_BIN" ]] || die "--before $BEFORE_BIN is not an executable file"
    BEFORE_BIN="$(cd "$(dirname "$BEFORE_BIN")" && pwd)/$(basename "$BEFORE_BIN")"
    TARGETS+=("before-tim")
fi

LOAD_LIST=()
IFS=',' read -r -a _loads <<<"$LOADS"
for l in "${_loads[@]}"; do
    case "$l" in
        put|get) ;;
        "") continue ;;
        *) die "unknown load in --loads: $l (known: put, get)" ;;
    esac
    [[ " ${LOAD_LIST[*]-} " == *" $l "* ]] || LOAD_LIST+=("$l")
done
(( ${#LOAD_LIST[@]} > 0 )) || die "--loads selects no load"

RATE_LIST=()
IFS=',' read -r -a _rates <<<"$OPEN_LOOP"
for r in "${_rates[@]}"; do
    [[ -z "$r" ]] && continue
    if [[ "$r" == half ]]; then
        [[ " ${TARGETS[*]} " == *" nginx "* ]] || die "--open-loop half needs the target nginx"
    else
        is_uint "$r" && (( 10#$r >= 1 )) || die "--open-loop: not a rate: $r (requests/s or half)"
    fi
    RATE_LIST+=("$r")
done

wants_gateway() {
    [[ " ${TARGETS[*]} " == *" sectorgate"* ]]
}

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# ---------------------------------------------------------------- cleanup

STARTED_PIDS=()
WORK_DIR=""
SHM_DIR=""
POLICY_RC_CREATED=0
FAILED=1

stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

show_logs() {
    local f
    [[ -n "$WORK_DIR" && -d "$WORK_DIR" ]] || return 0
    for f in "$WORK_DIR"/*/error.log "$WORK_DIR"/*/sectorgate.log; do
        [[ -s "$f" ]] || continue
        echo "---- last lines of ${f#"$WORK_DIR"/} ----" >&2
        tail -n 20 "$f" >&2 || true
    done
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    set +e
    if (( POLICY_RC_CREATED )); then
        rm -f /usr/sbin/policy-rc.d
    fi
    local i
    for (( i = ${#STARTED_PIDS[@]} - 1; i >= 0; i-- )); do
        stop_pid "${STARTED_PIDS[$i]}"
    done
    if (( FAILED )) && (( rc != 0 )); then
        show_logs
    fi
    if (( KEEP_TMP )); then
        [[ -n "$WORK_DIR" ]] && note "work directory kept: $WORK_DIR"
        [[ -n "$SHM_DIR" ]] && note "shared-memory directory kept: $SHM_DIR"
    else
        [[ -n "$WORK_DIR" && -d "$WORK_DIR" ]] && rm -rf -- "$WORK_DIR"
        [[ -n "$SHM_DIR" && -d "$SHM_DIR" ]] && rm -rf -- "$SHM_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools

find_nginx() {
    if command -v nginx >/dev/null 2>&1; then
        command -v nginx
    elif [[ -x /usr/sbin/nginx ]]; then
        echo /usr/sbin/nginx
    fi
}

install_missing() {
    local missing_nginx=0 pkgs=()
    [[ -n "$(find_nginx)" ]] || missing_nginx=1
    command -v wrk >/dev/null 2>&1 || pkgs+=(wrk)
    command -v taskset >/dev/null 2>&1 || pkgs+=(util-linux)
    command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
    command -v getconf >/dev/null 2>&1 || pkgs+=(libc-bin)
    if (( missing_nginx == 0 )) && (( ${#pkgs[@]} == 0 )); then
        return 0
    fi
    local wanted="${pkgs[*]}"
    (( missing_nginx )) && wanted="nginx-light (or nginx) $wanted"
    [[ $EUID -eq 0 ]] || die "missing tools; as root run: apt-get install $wanted"
    command -v apt-get >/dev/null 2>&1 || die "missing tools ($wanted) and no apt-get to install them"
    note "installing: $wanted"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package scripts from starting a system nginx on port 80.
    if (( missing_nginx )) && [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    apt-get update -qq
    if (( ${#pkgs[@]} > 0 )); then
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
    if (( missing_nginx )); then
        # nginx-light is the small build on bookworm; later releases only ship "nginx".
        apt-get install -y -qq --no-install-recommends nginx-light >/dev/null 2>&1 \
            || apt-get install -y -qq --no-install-recommends nginx >/dev/null
    fi
    if (( POLICY_RC_CREATED )); then
        rm -f /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=0
    fi
}

install_missing
NGINX_BIN="$(find_nginx)"
[[ -n "$NGINX_BIN" ]] || die "nginx is not installed"
for tool in wrk taskset python3 getconf; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done
if (( ${#RATE_LIST[@]} > 0 )) && ! command -v oha >/dev/null 2>&1; then
    command -v cargo >/dev/null 2>&1 || die "--open-loop needs oha, and cargo to install it"
    note "installing oha $OHA_VERSION with cargo (a few minutes, once)"
    cargo install --locked --quiet "oha@$OHA_VERSION" || die "cannot install oha"
    export PATH="$HOME/.cargo/bin:$PATH"
fi

NPROC="$(nproc)"
GEN_CPU="${BENCH_GEN_CPU:-0}"
PROXY_CPU="${BENCH_PROXY_CPU:-1}"
(( NPROC >= 2 )) || die "needs at least 2 cores (one for wrk, one for the servers); this machine has $NPROC"
(( GEN_CPU < NPROC && PROXY_CPU < NPROC )) || die "BENCH_GEN_CPU/BENCH_PROXY_CPU must be below $NPROC"
(( GEN_CPU != PROXY_CPU )) || die "BENCH_GEN_CPU and BENCH_PROXY_CPU must differ"
UPSTREAM_CPU="${BENCH_UPSTREAM_CPU:-$PROXY_CPU}"
CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------- gateway binary

SG_BIN=""
if wants_gateway; then
    if [[ -n "${SECTORGATE_BIN:-}" ]]; then
        SG_BIN="$SECTORGATE_BIN"
        [[ -x "$SG_BIN" ]] || die "SECTORGATE_BIN=$SG_BIN is not an executable file"
    else
        SG_BIN="${CARGO_TARGET_DIR:-target}/release/sectorgate"
        if [[ ! -x "$SG_BIN" ]]; then
            command -v cargo >/dev/null 2>&1 || die "$SG_BIN is missing and cargo is not installed"
            note "building $SG_BIN"
            cargo build --release -p sectorgate
            [[ -x "$SG_BIN" ]] || die "cargo build did not produce $SG_BIN"
        fi
    fi
    SG_BIN="$(cd "$(dirname "$SG_BIN")" && pwd)/$(basename "$SG_BIN")"
fi
PT_BIN=""
if [[ " ${TARGETS[*]} " == *" passthrough "* ]]; then
    PT_BIN="${PASSTHROUGH_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/passthrough}"
    if [[ ! -x "$PT_BIN" && -z "${PASSTHROUGH_BIN:-}" ]]; then
        command -v cargo >/dev/null 2>&1 || die "$PT_BIN is missing and cargo is not installed"
        note "building $PT_BIN"
        cargo build --release -p sectorgate-proxy --example passthrough
    fi
    [[ -x "$PT_BIN" ]] || die "$PT_BIN is not an executable file"
fi

# ---------------------------------------------------------------- work directories

WORK_DIR="$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/sectorgate-bench.XXXXXX")"
if [[ -d /dev/shm && -w /dev/shm ]]; then
    SHM_DIR="$(mktemp -d /dev/shm/sectorgate-bench.XXXXXX)"
fi
RESULTS="$WORK_DIR/results.tsv"
META="$WORK_DIR/meta.tsv"
: >"$META"

meta() {
    # key <TAB> value, one per line; read back by the report.
    printf '%s\t%s\n' "$1" "$2" >>"$META"
}

fs_type() {
    local t
    # findmnt prints one line per mount stacked on the path; the last one is visible.
    t="$(findmnt -n -o FSTYPE -T "$1" 2>/dev/null | tail -n 1)" || true
    [[ -n "$t" ]] || t="$(stat -f -c %T "$1" 2>/dev/null)" || true
    echo "${t:-unknown}"
}

# Prints N distinct free TCP ports on 127.0.0.1.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

wait_port() {
    # wait_port PID PORT WHAT
    local pid="$1" port="$2" what="$3" i
    for (( i = 0; i < 100; i++ )); do
        kill -0 "$pid" 2>/dev/null || die "$what exited during startup"
        if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$what did not listen on 127.0.0.1:$port within 10 s"
}

# PIDs of the direct children of a process.
children_of() {
    local parent="$1" f stat fields
    for f in /proc/[0-9]*/stat; do
        stat="$(cat "$f" 2>/dev/null)" || continue
        read -r -a fields <<<"${stat##*) }"
        # fields[0] is the state, fields[1] the parent PID.
        if [[ "${fields[1]:-}" == "$parent" ]]; then
            f="${f#/proc/}"
            echo "${f%/stat}"
        fi
    done
}

# Sum of utime+stime, in clock ticks, over the given PIDs (all their threads).
cpu_ticks() {
    local total=0 pid stat fields
    for pid in "$@"; do
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || die "process $pid is gone: a server exited, or the run was interrupted"
        # The command name may hold spaces; the fields after its closing ')'
        # start at field 3 (state), so utime (14) and stime (15) are the 12th and 13th.
        read -r -a fields <<<"${stat##*) }"
        total=$(( total + fields[11] + fields[12] ))
    done
    echo "$total"
}

now_us() {
    local t
    t="$(date +%s%N)"
    echo $(( t / 1000 ))
}

# ---------------------------------------------------------------- nginx

NGINX_USER_LINE=""
[[ $EUID -eq 0 ]] && NGINX_USER_LINE="user root root;"

nginx_common_head() {
    # nginx_common_head DIR
    local dir="$1"
    cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$NGINX_USER_LINE
events {
    worker_connections 4096;
}
EOF
}

nginx_common_http() {
    local dir="$1"
    cat <<EOF
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
EOF
}

start_nginx() {
    # start_nginx NAME PORT CPU ; records the master's PID in SERVER_PID[NAME]
    local name="$1" port="$2" cpu="$3" dir="$WORK_DIR/$1" pid
    "$NGINX_BIN" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        || die "nginx config for $name is invalid (see $dir/nginx.conf)"
    taskset -c "$cpu" "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$dir/stdout.log" 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    wait_port "$pid" "$port" "nginx ($name)"
    SERVER_PID[$name]="$pid"
}

declare -A SERVER_PID=()
read -r UPSTREAM_PORT NGINX_PORT <<<"$(free_ports 2)"

mkdir -p "$WORK_DIR/upstream"
{
    nginx_common_head "$WORK_DIR/upstream"
    cat <<EOF
http {
$(nginx_common_http "$WORK_DIR/upstream")
    server {
        listen 127.0.0.1:$UPSTREAM_PORT backlog=4096;
        default_type application/json;
        # A token lookup gets a user, so a gateway that asks can tell who sent a request.
        location ~ ^/_matrix/client/(v3|r0)/account/whoami\$ {
            return 200 '{"user_id":"@bench:localhost","device_id":"BENCHDEVICE"}';
        }
        # The bench room is public and unencrypted: under a profile that
        # requires encryption in private rooms, its plain messages pass.
        location ~ /state/m\.room\.encryption/?\$ {
            return 404 '{"errcode":"M_NOT_FOUND","error":"no encryption"}';
        }
        location ~ /state/m\.room\.join_rules/?\$ {
            return 200 '{"join_rule":"public"}';
        }
        location / {
            return 200 '{}';
        }
    }
}
EOF
} >"$WORK_DIR/upstream/nginx.conf"

mkdir -p "$WORK_DIR/nginx"
{
    nginx_common_head "$WORK_DIR/nginx"
    cat <<EOF
http {
$(nginx_common_http "$WORK_DIR/nginx")
    upstream homeserver {
        server 127.0.0.1:$UPSTREAM_PORT;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / {
            proxy_pass http://homeserver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
} >"$WORK_DIR/nginx/nginx.conf"

start_nginx upstream "$UPSTREAM_PORT" "$UPSTREAM_CPU"
if [[ " ${TARGETS[*]} " == *" nginx "* ]]; then
    start_nginx nginx "$NGINX_PORT" "$PROXY_CPU"
fi

# ---------------------------------------------------------------- sectorgate

declare -A TARGET_URL=() TARGET_PID=() AUDIT_WHERE=()
TARGET_URL[direct]="http://127.0.0.1:$UPSTREAM_PORT"
TARGET_URL[nginx]="http://127.0.0.1:$NGINX_PORT"

# Prints "CLIENT ADMIN" from the gateway's address file; fails while the file
# is missing or not yet complete JSON.
read_addr_file() {
    [[ -s "$1" ]] || return 1
    python3 - "$1" 2>/dev/null <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    a = json.load(f)
print(a["client"], a["admin"])
PY
}

# Succeeds when a GET of the URL answers 200.
http_ok() {
    python3 - "$1" 2>/dev/null <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

start_sectorgate() {
    # start_sectorgate NAME AUDIT_DIR [PROFILE [BINARY [STORE]]]
    local name="$1" audit_dir="$2" profile="${3:-base}" bin="${4:-$SG_BIN}" store="${5:-$AUDIT_STORE}" dir="$WORK_DIR/$1" pid client_port admin_port i addrs="" database
    mkdir -p "$dir" "$audit_dir"
    case "$store" in
        sqlite) database="sqlite://$audit_dir/audit.db" ;;
        journal) database="journal:$audit_dir/journal" ;;
        *) die "unknown audit store: $store (known: sqlite, journal)" ;;
    esac
    read -r client_port admin_port <<<"$(free_ports 2)"
    # Profiles that honour invite permissions want an application service
    # token; the stand-in upstream never checks it.
    echo "bench-token" >"$dir/appservice.token"
    cat >"$dir/sectorgate.toml" <<EOF
[listen]
client = "127.0.0.1:$client_port"
admin = "127.0.0.1:$admin_port"

[homeserver]
url = "http://127.0.0.1:$UPSTREAM_PORT"
appservice_token_file = "$dir/appservice.token"

[profile]
bundled = "$profile"

[audit]
database = "$database"
checkpoint_key = "$dir/checkpoint.key"
pseudonym_keys = "$dir/pseudonym-keys"

[telemetry]
log_format = "json"
log_filter = "warn"
EOF
    taskset -c "$PROXY_CPU" "$bin" serve --config "$dir/sectorgate.toml" --addr-file "$dir/addr.json" \
        >"$dir/sectorgate.log" 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")

    # The address file is written once both listeners are bound.
    for (( i = 0; i < 600; i++ )); do
        kill -0 "$pid" 2>/dev/null || die "sectorgate ($name) exited during startup"
        addrs="$(read_addr_file "$dir/addr.json")" && break
        addrs=""
        sleep 0.1
    done
    [[ -n "$addrs" ]] || die "sectorgate ($name) wrote no usable address file within 60 s"
    local client admin
    read -r client admin <<<"$addrs"

    for (( i = 0; i < 300; i++ )); do
        kill -0 "$pid" 2>/dev/null || die "sectorgate ($name) exited during startup"
        if http_ok "http://$admin/health"; then
            TARGET_URL[$name]="http://$client"
            TARGET_PID[$name]="$pid"
            note "sectorgate ($name) up: client $client, admin $admin, audit $store in $audit_dir"
            return 0
        fi
        sleep 0.1
    done
    die "sectorgate ($name) did not answer 200 on http://$admin/health within 30 s"
}

if [[ " ${TARGETS[*]} " == *" sectorgate "* ]]; then
    if [[ -n "$SHM_DIR" ]]; then
        start_sectorgate sectorgate "$SHM_DIR/sectorgate"
        AUDIT_WHERE[sectorgate]="$AUDIT_STORE on /dev/shm ($(fs_type /dev/shm))"
    else
        start_sectorgate sectorgate "$WORK_DIR/sectorgate"
        AUDIT_WHERE[sectorgate]="$AUDIT_STORE on disk, no /dev/shm ($(fs_type "$WORK_DIR"))"
    fi
fi
if [[ " ${TARGETS[*]} " == *" sectorgate-tim "* ]]; then
    if [[ -n "$SHM_DIR" ]]; then
        start_sectorgate sectorgate-tim "$SHM_DIR/sectorgate-tim" healthcare-tim-pro
        AUDIT_WHERE[sectorgate-tim]="$AUDIT_STORE on /dev/shm ($(fs_type /dev/shm))"
    else
        start_sectorgate sectorgate-tim "$WORK_DIR/sectorgate-tim" healthcare-tim-pro
        AUDIT_WHERE[sectorgate-tim]="$AUDIT_STORE on disk, no /dev/shm ($(fs_type "$WORK_DIR"))"
    fi
fi
if [[ " ${TARGETS[*]} " == *" before-tim "* ]]; then
    start_sectorgate before-tim "${SHM_DIR:-$WORK_DIR}/before-tim" healthcare-tim-pro "$BEFORE_BIN" "$BEFORE_AUDIT_STORE"
    if [[ -n "$SHM_DIR" ]]; then
        AUDIT_WHERE[before-tim]="$BEFORE_AUDIT_STORE on /dev/shm"
    else
        AUDIT_WHERE[before-tim]="$BEFORE_AUDIT_STORE on disk"
    fi
fi
if [[ " ${TARGETS[*]} " == *" sectorgate-disk "* ]]; then
    start_sectorgate sectorgate-disk "$WORK_DIR/sectorgate-disk"
    AUDIT_WHERE[sectorgate-disk]="$AUDIT_STORE on disk, ${WORK_DIR%/*} ($(fs_type "$WORK_DIR"))"
fi

if [[ -n "$PT_BIN" ]]; then
    mkdir -p "$WORK_DIR/passthrough"
    read -r pt_port <<<"$(free_ports 1)"
    taskset -c "$PROXY_CPU" "$PT_BIN" "127.0.0.1:$pt_port" "http://127.0.0.1:$UPSTREAM_PORT" \
        >"$WORK_DIR/passthrough/sectorgate.log" 2>&1 &
    TARGET_PID[passthrough]=$!
    STARTED_PIDS+=("${TARGET_PID[passthrough]}")
    TARGET_URL[passthrough]="http://127.0.0.1:$pt_port"
    for (( i = 0; i < 100; i++ )); do
        kill -0 "${TARGET_PID[passthrough]}" 2>/dev/null || die "passthrough exited during startup"
        http_ok "${TARGET_URL[passthrough]}/_matrix/client/versions" && break
        sleep 0.1
    done
    (( i < 100 )) || die "passthrough did not answer within 10 s"
    note "passthrough up: ${TARGET_URL[passthrough]}"
fi

# PIDs whose CPU time is charged to a target, and the upstream's.
# One PID per line; an nginx counts as its master plus its workers.
nginx_pids() {
    echo "${SERVER_PID[$1]}"
    children_of "${SERVER_PID[$1]}"
}
target_pids() {
    case "$1" in
        direct) nginx_pids upstream ;;
        nginx) nginx_pids nginx ;;
        *) echo "${TARGET_PID[$1]}" ;;
    esac
}
upstream_pids() {
    nginx_pids upstream
}

# ---------------------------------------------------------------- wrk scripts

ROOM_PATH='/_matrix/client/v3/rooms/!bench:localhost/send/m.room.message/'

# Shared by both loads: counts non-2xx answers per thread and prints one
# parseable line at the end.  Thread globals are read back through
# thread:get(), because setup() and done() run in wrk's main Lua state while
# request() and response() run in each thread's own state.
LUA_COMMON='
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_no", #threads)
end

non2xx = 0

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    end
end

function done(summary, latency, requests)
    local bad = 0
    for _, t in ipairs(threads) do
        bad = bad + (t:get("non2xx") or 0)
    end
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f non2xx=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.max, latency.mean, bad,
        e.connect, e.read, e.write, e.status, e.timeout))
end
'

# The PUT load's body, the same for wrk and oha.
python3 - "$BODY_BYTES" >"$WORK_DIR/put.body" <<'PY'
import sys
n = int(sys.argv[1])
prefix, suffix = '{"msgtype":"m.text","body":"', '"}'
text = "The quick brown fox jumps over the lazy dog. " * 40
sys.stdout.write(prefix + text[: n - len(prefix) - len(suffix)] + suffix)
PY

cat >"$WORK_DIR/put.lua" <<EOF
-- PUT a room message with a transaction id no other request uses:
-- run tag (from the command line) + thread number + per-thread counter.
local file = assert(io.open("$WORK_DIR/put.body", "rb"))
local body = file:read("*a")
file:close()
local base_path = "$ROOM_PATH"
local headers = {
    ["Authorization"] = "Bearer benchtoken",
    ["Content-Type"] = "application/json",
}
local txn_prefix = ""
local counter = 0

function init(args)
    txn_prefix = (args[1] or "bench") .. ".t" .. tostring(thread_no or 0) .. "."
end

function request()
    counter = counter + 1
    return wrk.format("PUT", base_path .. txn_prefix .. counter, headers, body)
end
$LUA_COMMON
EOF

cat >"$WORK_DIR/get.lua" <<EOF
-- GET the versions endpoint; wrk builds the request once and reuses it.
wrk.method = "GET"
wrk.path = "/_matrix/client/versions"
$LUA_COMMON
EOF

load_desc() {
    case "$1" in
        put) echo "PUT ${ROOM_PATH}<txn> (${BODY_BYTES}-byte m.text body, Bearer token)" ;;
        get) echo "GET /_matrix/client/versions" ;;
    esac
}

# One request of each load through a target, before any timing: a target that
# does not answer 2xx stops the benchmark here.
preflight() {
    local target="$1"
    python3 - "${TARGET_URL[$target]}" "$target" "$ROOM_PATH" <<'PY' || die "preflight request to $target failed"
import sys, urllib.error, urllib.parse, urllib.request
base, target, room_path = sys.argv[1], sys.argv[2], sys.argv[3]
checks = [
    ("PUT", room_path + "preflight." + target, b'{"msgtype":"m.text","body":"preflight"}',
     {"Authorization": "Bearer benchtoken", "Content-Type": "application/json"}),
    ("GET", "/_matrix/client/versions", None, {}),
]
for method, path, body, headers in checks:
    req = urllib.request.Request(base + urllib.parse.quote(path, safe="/!:."), data=body,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            if not 200 <= r.status < 300:
                sys.exit(f"{target}: {method} {path} answered {r.status}")
    except urllib.error.HTTPError as e:
        sys.exit(f"{target}: {method} {path} answered {e.code}: {e.read()[:300]!r}")
PY
}

# ---------------------------------------------------------------- measuring

RUN_TAG="bench$(date +%s)"

# run_wrk LOAD TARGET ROUND  (ROUND "warmup" records nothing)
run_wrk() {
    local load="$1" target="$2" round="$3" secs="$DURATION"
    local out="$WORK_DIR/wrk.$load.$target.$round.out" timef="$WORK_DIR/wrk.$load.$target.$round.time"
    local url="${TARGET_URL[$target]}" tpids upids
    [[ "$load" == get ]] && url+="/_matrix/client/versions" || url+="/"
    [[ "$round" == warmup ]] && secs="$WARMUP"

    mapfile -t tpids < <(target_pids "$target")
    mapfile -t upids < <(upstream_pids)
    (( ${#tpids[@]} >= 1 && ${#upids[@]} >= 1 )) || die "no process found for $target"
    local t0 t1 tc0 tc1 uc0 uc1
    t0="$(now_us)"
    tc0="$(cpu_ticks "${tpids[@]}")"
    uc0="$(cpu_ticks "${upids[@]}")"

    local TIMEFORMAT='%3U %3S'
    if ! { time taskset -c "$GEN_CPU" wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --timeout 5s \
            -s "$WORK_DIR/$load.lua" "$url" -- "$RUN_TAG.$round.$target" >"$out" 2>&1 ; } 2>"$timef"; then
        cat "$out" >&2
        die "wrk failed ($load, $target, round $round)"
    fi
    # Let work queued behind the last response (for example audit writes) finish
    # so it is charged to this run.
    sleep "$SETTLE"
    tc1="$(cpu_ticks "${tpids[@]}")"
    uc1="$(cpu_ticks "${upids[@]}")"
    t1="$(now_us)"

    local line
    line="$(grep '^BENCH ' "$out" || true)"
    [[ -n "$line" ]] || { cat "$out" >&2; die "wrk printed no result line ($load, $target, round $round)"; }
    local -A r=()
    local kv
    for kv in ${line#BENCH }; do
        r[${kv%%=*}]="${kv#*=}"
    done
    if (( r[requests] == 0 )); then
        cat "$out" >&2
        die "no request completed ($load, $target, round $round)"
    fi
    if (( r[non2xx] > 0 || r[err_status] > 0 )); then
        cat "$out" >&2
        die "$target answered ${r[non2xx]} non-2xx responses out of ${r[requests]} ($load, round $round)"
    fi
    local sockerr=$(( r[err_connect] + r[err_read] + r[err_write] + r[err_timeout] ))
    if (( sockerr > 0 )); then
        cat "$out" >&2
        die "$target had socket errors (connect ${r[err_connect]}, read ${r[err_read]}, write ${r[err_write]}, timeout ${r[err_timeout]}) ($load, round $round)"
    fi
    [[ "$round" == warmup ]] && return 0

    local wrk_user wrk_sys
    read -r wrk_user wrk_sys <"$timef"
    local up_ticks=$(( uc1 - uc0 ))
    [[ "$target" == direct ]] && up_ticks=""
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$round" "$load" "$target" "${r[requests]}" "${r[duration_us]}" \
        "${r[p50_us]}" "${r[p99_us]}" "$(( tc1 - tc0 ))" "$up_ticks" \
        "$(( t1 - t0 ))" "$wrk_user" "$wrk_sys" "${r[mean_us]}" >>"$RESULTS"
    python3 - "$CLK_TCK" "${r[requests]}" "${r[duration_us]}" "$(( tc1 - tc0 ))" "${r[p50_us]}" "${r[p99_us]}" "$load" "$target" "$round" <<'PY' >&2
import sys
tck, req, dur, ticks, p50, p99 = (float(x) for x in sys.argv[1:7])
load, target, rnd = sys.argv[7:10]
print(f"bench-proxy: round {rnd} {load:3} {target:15} {req / (dur / 1e6):10.0f} req/s"
      f"  p50 {p50 / 1000:6.3f} ms  p99 {p99 / 1000:6.3f} ms"
      f"  cpu {ticks * 1e6 / tck / req:7.2f} us/req")
PY
}

printf 'round\tload\ttarget\trequests\tduration_us\tp50_us\tp99_us\ttarget_ticks\tupstream_ticks\tcpu_window_us\twrk_user_s\twrk_sys_s\tmean_us\n' >"$RESULTS"

LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.5 else 1)' "${LOADAVG_START%% *}"; then :; else
    note "warning: load average is $LOADAVG_START before the benchmark; other work will skew the figures"
fi

for target in "${TARGETS[@]}"; do
    preflight "$target"
done

if (( WARMUP > 0 )); then
    note "warming up (${WARMUP}s per load and target)"
    for load in "${LOAD_LIST[@]}"; do
        for target in "${TARGETS[@]}"; do
            run_wrk "$load" "$target" warmup
        done
    done
fi

for (( round = 1; round <= ROUNDS; round++ )); do
    for load in "${LOAD_LIST[@]}"; do
        for target in "${TARGETS[@]}"; do
            run_wrk "$load" "$target" "$round"
        done
    done
done

# ---------------------------------------------------------------- open loop

OPEN_RESULTS="$WORK_DIR/openloop.tsv"
printf 'round\tload\trate\ttarget\trequests\tduration_us\tp50_us\tp99_us\ttarget_ticks\n' >"$OPEN_RESULTS"

# The rate "half" resolved for LOAD: half of nginx's median req/s in this run.
resolve_rate() {
    local load="$1" rate="$2"
    [[ "$rate" != half ]] && { echo "$rate"; return; }
    python3 - "$RESULTS" "$load" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t")
        if r["load"] == sys.argv[2] and r["target"] == "nginx"]
print(round(statistics.median(int(r["requests"]) / (int(r["duration_us"]) / 1e6) for r in rows) / 2))
PY
}

# run_oha LOAD TARGET RATE ROUND: RATE requests/s for DURATION seconds, sent
# on schedule whether or not earlier ones were answered; latencies count
# from when each request was due (oha --latency-correction).
run_oha() {
    local load="$1" target="$2" rate="$3" round="$4"
    local out="$WORK_DIR/oha.$load.$target.$rate.$round.json" url="${TARGET_URL[$target]}"
    local args=(-q "$rate" -z "${DURATION}s" -c "$CONNECTIONS" --latency-correction --no-tui
                --output-format json)
    if [[ "$load" == get ]]; then
        args+=("$url/_matrix/client/versions")
    else
        # A transaction id no other request uses, drawn from a pattern (in
        # oha's patterns a dot stands for itself).
        local pattern="$url$ROOM_PATH$RUN_TAG.ol.[a-z0-9]{24}"
        args+=(-m PUT -H "Authorization: Bearer benchtoken" -H "Content-Type: application/json"
               -D "$WORK_DIR/put.body" --rand-regex-url "$pattern")
    fi
    local tpids tc0 tc1
    mapfile -t tpids < <(target_pids "$target")
    tc0="$(cpu_ticks "${tpids[@]}")"
    taskset -c "$GEN_CPU" oha "${args[@]}" >"$out" 2>"$out.err" \
        || { cat "$out.err" >&2; die "oha failed ($load, $target, $rate req/s)"; }
    sleep "$SETTLE"
    tc1="$(cpu_ticks "${tpids[@]}")"
    python3 - "$out" "$round" "$load" "$rate" "$target" "$(( tc1 - tc0 ))" "$CLK_TCK" >>"$OPEN_RESULTS" <<'PY'
import json, sys
out, rnd, load, rate, target, ticks, tck = sys.argv[1:8]
report = json.load(open(out))
codes = report.get("statusCodeDistribution", {})
bad = {code: n for code, n in codes.items() if not code.startswith("2")}
# Requests still under way when the time is up are cut off, not failed.
errors = {e: n for e, n in report.get("errorDistribution", {}).items() if "deadline" not in e}
if bad or errors or not codes:
    sys.exit(f"bench-proxy: {target} under {load} at {rate} req/s: statuses {codes}, errors {errors}")
requests = sum(codes.values())
summary, latency = report["summary"], report["latencyPercentiles"]
duration_us = round(summary["total"] * 1e6)
print("\t".join(str(v) for v in (rnd, load, rate, target, requests, duration_us,
                                 round(latency["p50"] * 1e6), round(latency["p99"] * 1e6), ticks)))
print(f"bench-proxy: open loop {rnd} {load:3} {rate:>6} req/s {target:15}"
      f" {requests / summary['total']:8.0f} req/s  p50 {latency['p50'] * 1e3:6.3f} ms"
      f"  p99 {latency['p99'] * 1e3:6.3f} ms  cpu {int(ticks) * 1e6 / float(tck) / requests:6.2f} us/req",
      file=sys.stderr)
PY
}

if (( ${#RATE_LIST[@]} > 0 )); then
    for load in "${LOAD_LIST[@]}"; do
        for rate in "${RATE_LIST[@]}"; do
            rate="$(resolve_rate "$load" "$rate")"
            for (( round = 1; round <= ROUNDS; round++ )); do
                for target in "${TARGETS[@]}"; do
                    run_oha "$load" "$target" "$rate" "$round"
                done
            done
        done
    done
fi

# profile_audit LOAD: one more run of "sectorgate" under perf; the share of
# its CPU samples whose call stack passes through the audit path (the record
# step, the pseudonyms, the writer, sqlx and SQLite), times its median CPU
# per request from the measured rounds.
profile_audit() {
    local load="$1" target=sectorgate pid url data="$WORK_DIR/perf.$1.data" perf_pid
    command -v perf >/dev/null || die "--perf needs perf (Debian: linux-perf)"
    pid="$(target_pids "$target" | head -n 1)"
    url="${TARGET_URL[$target]}"
    [[ "$load" == get ]] && url+="/_matrix/client/versions" || url+="/"
    perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$pid" -o "$data" \
        -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
    taskset -c "$GEN_CPU" wrk -t1 -c"$CONNECTIONS" -d"$(( DURATION > 2 ? DURATION - 1 : 1 ))s" \
        -s "$WORK_DIR/$load.lua" "$url" -- "$RUN_TAG.perf.$target" >/dev/null 2>&1 || true
    wait "$perf_pid" || true
    perf script -i "$data" -F ip,sym >"$data.txt" 2>/dev/null || die "perf script failed"
    python3 - "$data.txt" "$RESULTS" "$load" "$target" "$CLK_TCK" <<'PY' >&2
import statistics, sys
stacks, results, load, target, tck = sys.argv[1:5] + [float(sys.argv[5])]
AUDIT = ("sectorgate_audit::", "sectorgate_proxy::record::", "sectorgate_proxy::peer::",
         "FactCache::whoami", "sqlx_", "sqlite3", "tlog_tiles::", "signed_note::")
samples = audit = 0
stack = []
def close():
    global samples, audit
    if stack:
        samples += 1
        audit += any(marker in frame for frame in stack for marker in AUDIT)
    stack.clear()
for line in open(stacks, errors="replace"):
    if line.strip():
        stack.append(line.strip())
    else:
        close()
close()
rows = [l.rstrip("\n").split("\t") for l in open(results)][1:]
cpu = [int(r[7]) * 1e6 / tck / int(r[3]) for r in rows if r[1] == load and r[2] == target]
if not samples or not cpu:
    sys.exit(f"bench-proxy: perf: no samples for {load} {target}")
share = audit / samples
median = statistics.median(cpu)
print(f"bench-proxy: perf {load:3} {target}: audit path {100 * share:.1f}% of {samples} samples"
      f" = {share * median:.2f} us/req of {median:.2f} us/req")
PY
}

if (( PERF )); then
    [[ " ${TARGETS[*]} " == *" sectorgate "* ]] || die "--perf profiles the target sectorgate: include it"
    for load in "${LOAD_LIST[@]}"; do
        profile_audit "$load"
    done
fi

LOADAVG_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report

cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
[[ -n "$cpu_model" ]] || cpu_model="$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')"
git_rev="$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")"
if [[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ]]; then git_rev+=" (with uncommitted changes)"; fi

meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta cores "$NPROC"
meta cpu "${cpu_model:-unknown}"
meta kernel "$(uname -sr)"
meta memory "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
meta loadavg "$LOADAVG_START at start, $LOADAVG_END at end"
meta nginx "$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')"
meta wrk "$(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }')"
meta checkout "$git_rev"
meta targets "${TARGETS[*]}"
meta loads "${LOAD_LIST[*]}"
for load in "${LOAD_LIST[@]}"; do
    meta "load_$load" "$(load_desc "$load")"
done
meta rounds "$ROUNDS"
meta duration "$DURATION"
meta warmup "$WARMUP"
meta connections "$CONNECTIONS"
meta gen_cpu "$GEN_CPU"
meta proxy_cpu "$PROXY_CPU"
meta upstream_cpu "$UPSTREAM_CPU"
meta clk_tck "$CLK_TCK"
for t in sectorgate sectorgate-tim sectorgate-disk before-tim; do
    [[ -n "${AUDIT_WHERE[$t]:-}" ]] && meta "audit_$t" "${AUDIT_WHERE[$t]}"
done
if [[ -n "$SG_BIN" ]]; then
    meta sectorgate_bin "${SG_BIN#"$REPO_ROOT"/} (built $(date -u -r "$SG_BIN" '+%Y-%m-%d %H:%M UTC'))"
fi
if [[ -n "$PT_BIN" ]]; then
    meta passthrough_bin "${PT_BIN#"$REPO_ROOT"/} (built $(date -u -r "$PT_BIN" '+%Y-%m-%d %H:%M UTC'))"
fi
if [[ -n "$BEFORE_BIN" ]]; then
    meta before_bin "$BEFORE_BIN (built $(date -u -r "$BEFORE_BIN" '+%Y-%m-%d %H:%M UTC'))"
fi

docs_arg=""
(( WRITE_DOCS )) && docs_arg="$DOCS_FILE"

python3 - "$RESULTS" "$META" "$docs_arg" "$OPEN_RESULTS" <<'PY'
import csv, os, statistics, sys

results_path, meta_path, docs_path, open_path = sys.argv[1:5]

meta = {}
with open(meta_path) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition("\t")
        meta[k] = v
tck = float(meta["clk_tck"])
# Whether the upstream shares the proxies' core (then both count towards it).
shared_core = meta["upstream_cpu"] == meta["proxy_cpu"]

runs = []
with open(results_path) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        req = int(row["requests"])
        dur_s = int(row["duration_us"]) / 1e6
        t_ticks = int(row["target_ticks"])
        u_ticks = int(row["upstream_ticks"]) if row["upstream_ticks"] else None
        runs.append({
            "round": row["round"],
            "load": row["load"],
            "target": row["target"],
            "rps": req / dur_s,
            "p50": int(row["p50_us"]) / 1000,
            "p99": int(row["p99_us"]) / 1000,
            "cpu": t_ticks / tck * 1e6 / req,
            "up_cpu": None if u_ticks is None else u_ticks / tck * 1e6 / req,
            # The CPU window also spans the settle pause after wrk stops, when the
            # servers idle; wrk's own duration is the better denominator.
            "core": 100 * (t_ticks + ((u_ticks or 0) if shared_core else 0)) / tck / dur_s,
            "gen": 100 * (float(row["wrk_user_s"]) + float(row["wrk_sys_s"])) / dur_s,
        })

loads = meta["loads"].split()
targets = meta["targets"].split()

def med(rows, key):
    vals = [r[key] for r in rows if r[key] is not None]
    return statistics.median(vals) if vals else None

summary = {}
for load in loads:
    for target in targets:
        rows = [r for r in runs if r["load"] == load and r["target"] == target]
        if rows:
            summary[(load, target)] = {k: med(rows, k) for k in ("rps", "p50", "p99", "cpu", "up_cpu", "core", "gen")}

def fmt(v, spec):
    return "–" if v is None else format(v, spec)

headers = ["load", "target", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "upstream CPU µs/req", "server core %", "wrk core %"]
align = ["l", "l", "r", "r", "r", "r", "r", "r", "r"]
body = []
for (load, target), s in summary.items():
    body.append([load, target, fmt(s["rps"], ",.0f"), fmt(s["p50"], ".3f"), fmt(s["p99"], ".3f"),
                 fmt(s["cpu"], ".2f"), fmt(s["up_cpu"], ".2f"), fmt(s["core"], ".0f"), fmt(s["gen"], ".0f")])

def md_table(headers, rows, align):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    def line(cells):
        out = []
        for c, w, a in zip(cells, widths, align):
            out.append(c.rjust(w) if a == "r" else c.ljust(w))
        return "| " + " | ".join(out) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])

table = md_table(headers, body, align)

ratio_rows = []
for load in loads:
    pairs = [(t, "nginx") for t in ("passthrough", "sectorgate", "sectorgate-tim", "sectorgate-disk", "before-tim")]
    pairs.append(("sectorgate-tim", "sectorgate"))
    pairs.append(("sectorgate", "passthrough"))
    pairs.append(("sectorgate-tim", "before-tim"))
    for target, reference in pairs:
        s, ref = summary.get((load, target)), summary.get((load, reference))
        if ref and s:
            ratio_rows.append([load, f"{target} / {reference}",
                               f"{s['rps'] / ref['rps']:.2f}",
                               f"{s['cpu'] / ref['cpu']:.2f}" if ref["cpu"] else "–",
                               f"{s['p99'] / ref['p99']:.2f}" if ref["p99"] else "–"])
ratios = md_table(["load", "ratio", "req/s", "CPU µs/req", "p99"], ratio_rows, ["l", "l", "r", "r", "r"]) if ratio_rows else ""

# The open loop: medians over rounds per (load, rate, target), and what each
# target adds to direct's latency at the same rate.
open_runs = {}
with open(open_path) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        req = int(row["requests"])
        open_runs.setdefault((row["load"], int(row["rate"]), row["target"]), []).append({
            "rps": req / (int(row["duration_us"]) / 1e6),
            "p50": int(row["p50_us"]) / 1000,
            "p99": int(row["p99_us"]) / 1000,
            "cpu": int(row["target_ticks"]) / tck * 1e6 / req,
        })
open_summary = {key: {k: statistics.median(r[k] for r in rows) for k in ("rps", "p50", "p99", "cpu")}
                for key, rows in open_runs.items()}
open_rows = []
for (load, rate, target), s in open_summary.items():
    floor = open_summary.get((load, rate, "direct"))
    added = lambda k: "–" if floor is None or target == "direct" else f"{s[k] - floor[k]:+.3f}"
    open_rows.append([load, f"{rate:,}", target, f"{s['rps']:,.0f}", f"{s['p50']:.3f}", f"{s['p99']:.3f}",
                      added("p50"), added("p99"), f"{s['cpu']:.2f}"])
open_table = md_table(["load", "rate req/s", "target", "served req/s", "p50 ms", "p99 ms", "added p50 ms",
                       "added p99 ms", "CPU µs/req"], open_rows,
                      ["l", "r", "l", "r", "r", "r", "r", "r", "r"]) if open_rows else ""

print()
print(table)
if ratios:
    print()
    print(ratios)
if open_table:
    print()
    print(open_table)
print()

if not docs_path:
    sys.exit(0)

params = [
    f"- Checkout: {meta['checkout']}",
    f"- Machine: {meta['cores']} cores, {meta['cpu']}, {meta['memory']}; {meta['kernel']}",
    f"- Load average: {meta['loadavg']}",
    f"- Tools: nginx {meta['nginx']}, {meta['wrk']}",
]
if "sectorgate_bin" in meta:
    params.append(f"- Gateway binary: `{meta['sectorgate_bin']}`")
if "passthrough_bin" in meta:
    params.append(f"- Pass-through binary (the gateway's HTTP path, no policy, no audit): `{meta['passthrough_bin']}`")
params += [
    f"- Targets: {', '.join(targets)}; {meta['rounds']} round(s) of {meta['duration']} s per load and target "
    f"(after {meta['warmup']} s of warm-up each); the table shows the median over rounds",
    f"- wrk: 1 thread, {meta['connections']} connections, pinned to core {meta['gen_cpu']}; "
    + (f"nginx (upstream and proxy, 1 worker each) and sectorgate pinned to core {meta['proxy_cpu']}"
     if meta["upstream_cpu"] == meta["proxy_cpu"] else
     f"the upstream (nginx, 1 worker) pinned to core {meta['upstream_cpu']}; nginx (1 worker) and "
     f"sectorgate pinned to core {meta['proxy_cpu']}"),
]
for load in loads:
    params.append(f"- Load `{load}`: {meta['load_' + load]}")
for t in ("sectorgate", "sectorgate-tim", "sectorgate-disk"):
    if "audit_" + t in meta:
        params.append(f"- Audit database of `{t}`: {meta['audit_' + t]}")

section = [
    "<!-- bench:begin -->",
    "<!-- Written by scripts/bench-proxy.sh; edits between these markers are replaced on the next run. -->",
    "",
    f"### Latest run ({meta['date']})",
    "",
    *params,
    "",
    table,
    "",
]
if ratios:
    section += ["Ratios of medians (below 1 for req/s, or above 1 for CPU and p99, means sectorgate costs more than nginx):", "", ratios, ""]
if open_table:
    section += ["Open loop (oha, latency-corrected: each latency counts from when its request was due; "
                "median over rounds; *added* is over direct at the same rate):", "", open_table, ""]
raw_rows = [[r["round"], r["load"], r["target"], f"{r['rps']:,.0f}", f"{r['p50']:.3f}", f"{r['p99']:.3f}",
             f"{r['cpu']:.2f}", fmt(r["up_cpu"], ".2f"), f"{r['core']:.0f}", f"{r['gen']:.0f}"]
            for r in runs]
section += [
    "<details><summary>Every run</summary>",
    "",
    md_table(["round"] + headers, raw_rows, ["r"] + align),
    "",
    "</details>",
    "",
]
section += [
    "How to read this:",
    "",
    "- **direct** is wrk talking to the upstream itself: the floor any proxy adds to. "
    "**nginx** is a plain `proxy_pass` with upstream keep-alive, the reference for what forwarding alone costs. "
    "**sectorgate** is the gateway with the bundled `base` profile and its audit trail; "
    "**sectorgate-tim** the same under `healthcare-tim-pro` (canonical JSON, schemas, event rules, and the "
    "encryption check on every plain message, whose room facts it learns from the upstream and caches); "
    "`sectorgate-tim / sectorgate` is what that profile's policy costs. "
    "**passthrough** is the gateway's HTTP path alone (its listener's hyper settings, its forward step and "
    "pooled homeserver connections, one current-thread runtime, jemalloc) with no policy and no audit: "
    "`sectorgate / passthrough` is what the pipeline adds to forwarding.",
    "- **CPU µs/req** is the user+system CPU time of the target's own processes (for nginx: master and worker; "
    "for direct: the upstream) read from `/proc/PID/stat` before and after the run, divided by the requests served. "
    "The upstream's share on proxied runs is in its own column and is not included.",
    "- **server core %** is how busy the servers' core was (target plus upstream when they share it). When the "
    "upstream runs beside wrk (`BENCH_UPSTREAM_CPU`), their core can be the limit at well under 100 % wrk: "
    "then req/s measures the load side, and only the CPU per request compares the proxies. Near 100 % the servers are the "
    "bottleneck and req/s measures them; well below it, and **wrk core %** near 100 %, the load generator is the "
    "limit and the CPU per request is the figure to compare.",
    "- p50 and p99 are wrk's latency percentiles with a closed loop of the given connections; "
    "they include queueing inside the servers' core, so they grow with the CPU per request.",
    "- Each round runs every target in turn, so slow drift of the machine touches all of them alike; "
    "rerun on an idle machine before comparing numbers from different days.",
    "<!-- bench:end -->",
]
section_text = "\n".join(section) + "\n"

begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
if os.path.exists(docs_path):
    with open(docs_path) as f:
        text = f.read()
    b, e = text.find(begin), text.find(end)
    if b != -1 and e != -1 and e > b:
        e_stop = e + len(end)
        if text[e_stop:e_stop + 1] == "\n":
            e_stop += 1
        text = text[:b] + section_text + text[e_stop:]
    else:
        text = text.rstrip("\n") + "\n\n" + section_text
else:
    os.makedirs(os.path.dirname(docs_path) or ".", exist_ok=True)
    text = (
        "# Benchmarks\n\n"
        "`scripts/bench-proxy.sh` measures the proxy spine side by side: wrk against the upstream directly, "
        "through an nginx `proxy_pass`, and through sectorgate, with the same upstream behind each. "
        "It installs nginx and wrk from Debian's packages when they are missing and needs two cores.\n\n"
        "```sh\n"
        "scripts/bench-proxy.sh                    # 3 rounds x 10 s, both loads, all three targets\n"
        "scripts/bench-proxy.sh --audit-on-disk    # add a gateway whose audit database is on disk\n"
        "scripts/bench-proxy.sh --only direct,nginx --duration 3 --rounds 1\n"
        "```\n\n"
        "## Results\n\n" + section_text
    )
with open(docs_path, "w") as f:
    f.write(text)
print(f"bench-proxy: wrote {docs_path}", file=sys.stderr)
PY

FAILED=0
