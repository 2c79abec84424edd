#!/usr/bin/env bash
# Runs sectorgate for real: a local Synapse (installed from PyPI into a
# cached virtualenv) with sectorgate in front of it, on embedded SQLite and
# the bundled healthcare-tim-pro profile. Point a Matrix client at the URL
# printed.
#
#   scripts/demo.sh            # Ctrl-C stops both
#
# Synapse listens on 127.0.0.1:8008, sectorgate on 127.0.0.1:8080 (admin on
# 8081), as in sectorgate's built-in defaults. State lives in .demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/.demo"
mkdir -p "$demo"

echo "==> installing Synapse (cached virtualenv)" >&2
venv=$(bash scripts/deps.sh --python-only | sed -n 's/^SECTORGATE_VENV=//p' | tail -n 1)

echo "==> building sectorgate" >&2
cargo build --locked -p sectorgate
bin="${CARGO_TARGET_DIR:-$root/target}/debug/sectorgate"

echo "==> starting Synapse on 127.0.0.1:8008" >&2
"$venv/bin/python" scripts/synapse.py stop --dir "$demo/synapse" >/dev/null 2>&1 || true
"$venv/bin/python" scripts/synapse.py start --dir "$demo/synapse" --port 8008 \
    --public-baseurl http://127.0.0.1:8080/ --watch-parent $$ >"$demo/synapse.json"

stop() {
    "$venv/bin/python" "$root/scripts/synapse.py" stop --dir "$demo/synapse" >/dev/null 2>&1 || true
}
trap stop EXIT

if ! python3 scripts/synapse.py register --base-url http://127.0.0.1:8008 --dir "$demo/synapse" \
    --user demo --password demo-password --exist-ok >/dev/null; then
    echo "demo: could not register the demo user (see the error above)" >&2
    exit 1
fi

cat >&2 <<MSG

  sectorgate is starting in front of Synapse with built-in defaults: the
  bundled healthcare-tim-pro profile. Its config (.demo/sectorgate.toml)
  names Synapse's application service token, through which the gateway
  reads users' invite permissions, and the audit log's embedded SQLite
  database, .demo/sectorgate.db.

    Homeserver URL for your Matrix client:  http://127.0.0.1:8080
    Demo user:                              demo / demo-password
    Health and readiness:                   http://127.0.0.1:8081/health
                                            http://127.0.0.1:8081/ready

  Ctrl-C stops sectorgate and Synapse.

MSG
token_file=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["appservice_token_file"])' "$demo/synapse.json")
printf '[homeserver]\nappservice_token_file = "%s"\n\n[audit]\ndatabase = "sqlite://sectorgate.db"\n' \
    "$token_file" >"$demo/sectorgate.toml"
cd "$demo"
"$bin" serve --config "$demo/sectorgate.toml"
