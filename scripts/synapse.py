#!/usr/bin/env python3
"""Run a throw-away Synapse homeserver for integration tests.

Subcommands:

  start     write a test configuration into --dir, start Synapse in the
            background and wait until it answers; prints one JSON line
  stop      stop the Synapse started in --dir
  register  create a user through the shared-secret admin API; prints JSON

`start` and `stop` must run with the Python of the virtualenv made by
scripts/deps.sh (it holds Synapse). `register` only needs the standard library,
so any python3 will do.

The test homeserver is tuned for tests, not for production: every rate limit is
lifted, registration is open without verification, it never talks to a key
server, and its database and media live on tmpfs (/dev/shm) when possible.

It is also set up as the bundled profiles' homeserver_settings ask (users may
publish rooms in the room directory, the user directory searches every local
user, new media is still served on the unauthenticated endpoints), so that
the conformance suite's homeserver checks pass; --synapse-defaults leaves
those settings at Synapse's own defaults instead.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

READY_TIMEOUT_SECS = 60.0
STOP_GRACE_SECS = 10.0
WATCHDOG_POLL_SECS = 0.5

# Name of the HTTP listener; Synapse's access log for it goes to the logger
# "synapse.access.http.<LISTENER_TAG>".
LISTENER_TAG = "main"

# Files inside --dir.
CONFIG_FILE = "homeserver.yaml"
# The gateway's application service registration: it lets sectorgate read a
# user's invite-permission account data as that user (masquerading with
# ?user_id=), which only the user may otherwise read. Non-exclusive, no URL:
# Synapse sends it nothing.
APPSERVICE_FILE = "appservice-sectorgate.yaml"
LOG_CONFIG_FILE = "log.yaml"
PID_FILE = "synapse.pid"
STATE_FILE = "harness.json"
SERVER_LOG = "homeserver.log"
ACCESS_LOG = "access.log"
STDOUT_LOG = "stdout.log"

# Every rate limiter Synapse 1.163 reads with the {per_second, burst_count} shape.
RATE_LIMITS = [
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
]
UNLIMITED = {"per_second": 10000, "burst_count": 10000}

# Addresses URL previews must never reach (private, loopback, link-local,
# multicast and documentation ranges).
URL_PREVIEW_IP_BLACKLIST = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
]

# The settings the bundled profiles' homeserver_settings ask for (see
# docs/profiles.md), which Synapse's defaults do not meet.
PROFILE_SETTINGS = {
    # A user may publish a room in the public room directory (default: only
    # server admins).
    "room_list_publication_rules": [{"action": "allow"}],
    # The user directory finds every local user (default: only those who
    # share a room with the searcher or are in a public room).
    "user_directory": {"search_all_users": True},
    # New media is still served on /_matrix/media/v3/download (default:
    # only on the authenticated /_matrix/client/v1/media endpoints).
    "enable_authenticated_media": False,
}

# Proxy settings inherited from the environment would send Synapse's outbound
# requests (URL previews, federation) somewhere unexpected; tests that want a
# proxy configure it in homeserver.yaml explicitly.
PROXY_ENV_VARS = ["http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]


def log(msg: str) -> None:
    print(f"synapse.py: {msg}", file=sys.stderr, flush=True)


def fail(msg: str) -> NoReturn:
    log(f"error: {msg}")
    sys.exit(1)


# --- process helpers ---------------------------------------------------------


def process_start_time(pid: int) -> str | None:
    """The start time of a process (field 22 of /proc/PID/stat), or None if it
    is gone. Together with the PID it identifies a process across PID reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; it ends at the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return fields[19]


def is_synapse(pid: int) -> bool:
    """True if PID is alive and runs a Synapse homeserver."""
    if process_start_time(pid) is None:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"synapse.app.homeserver" in cmdline


def terminate(pid: int, grace: float = STOP_GRACE_SECS) -> None:
    """SIGTERM a process, then SIGKILL it if it is still alive after `grace`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process_start_time(pid) is None:
            return
        time.sleep(0.1)
    log(f"pid {pid} still alive after {grace:.0f}s, sending SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and process_start_time(pid) is not None:
        time.sleep(0.1)


def is_watchdog(pid: int) -> bool:
    """True if PID is alive and is this script's `_watchdog`."""
    if process_start_time(pid) is None:
        return False
    try:
        return b"_watchdog" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not readable)"


# --- configuration -----------------------------------------------------------


def data_dir_for(run_dir: Path) -> Path:
    """Where the database and media store live: reuse the one recorded by an
    earlier start (so a restart keeps its data), else a fresh directory on tmpfs
    if there is one, else run_dir/data."""
    state = read_state(run_dir)
    if state and state.get("data_dir") and Path(state["data_dir"]).is_dir():
        return Path(state["data_dir"])
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="sectorgate-synapse-", dir=shm))
    data = run_dir / "data"
    data.mkdir(exist_ok=True)
    return data


def secret_for(run_dir: Path, name: str) -> str:
    """A random secret, stable across restarts of the same --dir."""
    path = run_dir / f"{name}.secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def set_nested(config: dict, dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        config = config.setdefault(part, {})
    config[leaf] = value


def homeserver_config(args: argparse.Namespace, run_dir: Path, data_dir: Path, port: int) -> dict:
    public_baseurl = args.public_baseurl or f"http://127.0.0.1:{port}/"
    config: dict = {
        "server_name": args.server_name,
        "public_baseurl": public_baseurl,
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                # The gateway in front sets X-Forwarded-For.
                "x_forwarded": True,
                "tag": LISTENER_TAG,
                "resources": [{"names": ["client", "federation"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(data_dir / "homeserver.db")}},
        "media_store_path": str(data_dir / "media_store"),
        "max_upload_size": args.max_upload_size,
        "signing_key_path": str(run_dir / "signing.key"),
        "log_config": str(run_dir / LOG_CONFIG_FILE),
        "report_stats": False,
        "enable_metrics": False,
        "registration_shared_secret": secret_for(run_dir, "registration_shared"),
        "macaroon_secret_key": secret_for(run_dir, "macaroon"),
        "form_secret": secret_for(run_dir, "form"),
        # Open registration; Synapse refuses to start with enable_registration
        # unless verification is explicitly waived as well.
        "enable_registration": True,
        "enable_registration_without_verification": True,
        # Never contact matrix.org (or anyone) for signing keys.
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": False},
        "url_preview_enabled": args.url_preview,
        "app_service_config_files": [str(run_dir / APPSERVICE_FILE)]
        + [str(bridge_file(run_dir, spec)) for spec in args.bridge or []],
        # Old-style federation limiter: allow plenty of concurrent requests.
        "rc_federation": {
            "window_size": 1000,
            "sleep_limit": 10000,
            "sleep_delay": 0,
            "reject_limit": 10000,
            "concurrent": 10000,
        },
        "federation_rr_transactions_per_room_per_second": 10000,
        "remote_media_download_per_second": "1G",
        "remote_media_download_burst_count": "10G",
    }
    if args.federation_tls_port:
        if not (args.tls_cert and args.tls_key):
            fail("--federation-tls-port needs --tls-cert and --tls-key")
        config["listeners"].append(
            {
                "port": args.federation_tls_port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": True,
                "resources": [{"names": ["federation"], "compress": False}],
            }
        )
        config["tls_certificate_path"] = args.tls_cert
        config["tls_private_key_path"] = args.tls_key
    if args.federation_ca:
        # Verify other servers' certificates against the test CA, and let
        # federation reach loopback, which Synapse blocks by default.
        config["federation_verify_certificates"] = True
        config["federation_custom_ca_list"] = [args.federation_ca]
        config["ip_range_whitelist"] = ["127.0.0.0/8"]
    if args.https_proxy:
        # Outbound requests (federation included) go through this CONNECT proxy.
        config["https_proxy"] = args.https_proxy
    for key in RATE_LIMITS:
        set_nested(config, key, dict(UNLIMITED))
    if not args.synapse_defaults:
        config.update(json.loads(json.dumps(PROFILE_SETTINGS)))
    if args.url_preview:
        config["url_preview_ip_range_blacklist"] = URL_PREVIEW_IP_BLACKLIST
        if args.url_preview_allow:
            config["url_preview_ip_range_whitelist"] = args.url_preview_allow
    for setting in args.set or []:
        key, _, value = setting.partition("=")
        try:
            set_nested(config, key, json.loads(value))
        except json.JSONDecodeError as error:
            fail(f"--set {setting}: the value is not JSON ({error})")
    return config


def bridge_file(run_dir: Path, spec: str) -> Path:
    return run_dir / f"bridge-{spec.split(':', 1)[0]}.yaml"


def bridge_registration(run_dir: Path, spec: str) -> dict:
    """A bridge's registration from ID:SENDER:USER_REGEX (its own exclusive namespace)."""
    bridge_id, sender, regex = spec.split(":", 2)
    return {
        "id": bridge_id,
        "url": None,
        "as_token": secret_for(run_dir, f"bridge-{bridge_id}"),
        "hs_token": secret_for(run_dir, f"bridge-{bridge_id}-hs"),
        "sender_localpart": sender,
        "rate_limited": False,
        "namespaces": {"users": [{"exclusive": True, "regex": regex}], "rooms": [], "aliases": []},
    }


def appservice_registration(run_dir: Path) -> dict:
    return {
        "id": "sectorgate",
        "url": None,
        "as_token": secret_for(run_dir, "appservice"),
        "hs_token": secret_for(run_dir, "appservice_hs"),
        "sender_localpart": "sectorgate",
        "rate_limited": False,
        "namespaces": {"users": [{"exclusive": False, "regex": "@.*"}], "rooms": [], "aliases": []},
    }


def log_config(run_dir: Path) -> dict:
    """Python logging config: the access log to access.log, the rest to
    homeserver.log. Plain FileHandlers write every record at once, so tests can
    read the logs right after a request."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"},
            "access": {"format": "%(asctime)s - %(message)s"},
        },
        "handlers": {
            "server": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(run_dir / SERVER_LOG),
                "encoding": "utf8",
            },
            "access": {
                "class": "logging.FileHandler",
                "formatter": "access",
                "filename": str(run_dir / ACCESS_LOG),
                "encoding": "utf8",
            },
        },
        "loggers": {
            # Parent of synapse.access.http.<LISTENER_TAG>.
            "synapse.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
            "synapse.storage.SQL": {"level": "INFO"},
        },
        "root": {"level": "INFO", "handlers": ["server"]},
    }


def write_yaml(path: Path, data: dict, comment: str) -> None:
    # JSON is valid YAML, and keeps this script free of third-party modules.
    path.write_text(f"# {comment}\n" + json.dumps(data, indent=2) + "\n")


def read_state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


# --- start / stop ------------------------------------------------------------


def wait_ready(proc: subprocess.Popen, base_url: str, run_dir: Path) -> str | None:
    """Poll /_matrix/client/versions until it answers 200. Returns None when
    ready, else why not: Synapse died, or gave no answer within
    READY_TIMEOUT_SECS."""
    url = f"{base_url}/_matrix/client/versions"
    deadline = time.monotonic() + READY_TIMEOUT_SECS
    while True:
        if proc.poll() is not None:
            return (
                f"Synapse exited with status {proc.returncode} during startup\n"
                f"--- {run_dir / SERVER_LOG} (tail) ---\n{tail(run_dir / SERVER_LOG)}\n"
                f"--- {run_dir / STDOUT_LOG} (tail) ---\n{tail(run_dir / STDOUT_LOG)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return None
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            return (
                f"Synapse did not answer {url} within {READY_TIMEOUT_SECS:.0f}s\n"
                f"--- {run_dir / SERVER_LOG} (tail) ---\n{tail(run_dir / SERVER_LOG)}"
            )
        time.sleep(0.2)


def cmd_start(args: argparse.Namespace) -> None:
    run_dir = Path(args.dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)

    pid_path = run_dir / PID_FILE
    if pid_path.exists() and is_synapse(int(pid_path.read_text().strip() or 0)):
        fail(f"a Synapse is already running from {run_dir} (pid {pid_path.read_text().strip()})")

    port = args.port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir = data_dir_for(run_dir)
    state = {"data_dir": str(data_dir)}
    (run_dir / STATE_FILE).write_text(json.dumps(state) + "\n")

    config_path = run_dir / CONFIG_FILE
    write_yaml(config_path, homeserver_config(args, run_dir, data_dir, port), "Test homeserver written by scripts/synapse.py")
    write_yaml(run_dir / LOG_CONFIG_FILE, log_config(run_dir), "Logging for the test homeserver")
    write_yaml(run_dir / APPSERVICE_FILE, appservice_registration(run_dir), "sectorgate's application service")
    for spec in args.bridge or []:
        write_yaml(bridge_file(run_dir, spec), bridge_registration(run_dir, spec), "A bridge for the tests")

    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV_VARS}
    synapse_cmd = [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config_path)]

    # Creates signing.key if it is missing; a no-op otherwise.
    keygen = subprocess.run(
        synapse_cmd + ["--generate-keys"],
        cwd=run_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_SECS,
    )
    if keygen.returncode != 0:
        stop_synapse(run_dir)  # nothing runs yet; this removes the data directory
        fail(f"--generate-keys failed:\n{keygen.stdout}{keygen.stderr}")

    with open(run_dir / STDOUT_LOG, "ab") as out:
        proc = subprocess.Popen(
            synapse_cmd,
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not killed by the caller's Ctrl-C / process group
        )
    pid_path.write_text(f"{proc.pid}\n")
    error = wait_ready(proc, base_url, run_dir)
    if error is None and args.watch_parent:
        error = spawn_watchdog(run_dir, args.watch_parent, proc.pid, state)
    if error is not None:
        stop_synapse(run_dir)
        fail(error)
    state["pid"] = proc.pid
    (run_dir / STATE_FILE).write_text(json.dumps(state) + "\n")

    print(
        json.dumps(
            {
                "pid": proc.pid,
                "port": port,
                "base_url": base_url,
                "dir": str(run_dir),
                "server_name": args.server_name,
                "access_log": str(run_dir / ACCESS_LOG),
                "registration_shared_secret": secret_for(run_dir, "registration_shared"),
                # The as_token, alone in a file, as sectorgate's
                # homeserver.appservice_token_file wants it.
                "appservice_token_file": str(run_dir / "appservice.secret"),
                "bridges": {
                    spec.split(":", 1)[0]: {
                        "registration": str(bridge_file(run_dir, spec)),
                        "as_token": secret_for(run_dir, f"bridge-{spec.split(':', 1)[0]}"),
                    }
                    for spec in args.bridge or []
                },
            }
        ),
        flush=True,
    )


def stop_synapse(run_dir: Path, keep_data: bool = False) -> None:
    pid_path = run_dir / PID_FILE
    if pid_path.exists():
        pid = int(pid_path.read_text().strip() or 0)
        if pid and is_synapse(pid):
            log(f"stopping Synapse pid {pid}")
            terminate(pid)
        pid_path.unlink(missing_ok=True)
    state = read_state(run_dir) or {}
    if not keep_data:
        # Remove a tmpfs data directory: it would otherwise hold memory until reboot.
        data_dir = state.get("data_dir")
        if data_dir and not Path(data_dir).is_relative_to(run_dir):
            shutil.rmtree(data_dir, ignore_errors=True)
            state.pop("data_dir")
            (run_dir / STATE_FILE).write_text(json.dumps(state) + "\n")


def cmd_stop(args: argparse.Namespace) -> None:
    run_dir = Path(args.dir).resolve()
    state = read_state(run_dir) or {}
    stop_synapse(run_dir, keep_data=args.keep_data)
    # The watchdog exits by itself once Synapse is gone; end it now to be tidy.
    watchdog = state.get("watchdog_pid")
    if watchdog and is_watchdog(watchdog):
        try:
            os.kill(watchdog, signal.SIGTERM)
        except ProcessLookupError:
            pass


def spawn_watchdog(run_dir: Path, parent_pid: int, synapse_pid: int, state: dict) -> str | None:
    """Start the `_watchdog` process and record it in `state`. Returns an error
    message if the parent to watch does not exist."""
    parent_start = process_start_time(parent_pid)
    if parent_start is None:
        return f"--watch-parent {parent_pid}: no such process"
    with open(run_dir / "watchdog.log", "ab") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "_watchdog",
                "--dir", str(run_dir),
                "--parent", str(parent_pid),
                "--parent-start", parent_start,
                "--synapse", str(synapse_pid),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    state["watchdog_pid"] = proc.pid
    return None


def cmd_watchdog(args: argparse.Namespace) -> None:
    """Stop Synapse as soon as the watched parent process is gone; exit once
    Synapse is gone, whoever stopped it."""
    synapse_start = process_start_time(args.synapse)
    while True:
        if synapse_start is None or process_start_time(args.synapse) != synapse_start:
            return
        if process_start_time(args.parent) != args.parent_start:
            log(f"parent {args.parent} is gone: stopping Synapse {args.synapse}")
            stop_synapse(Path(args.dir))
            return
        time.sleep(WATCHDOG_POLL_SECS)


# --- register ----------------------------------------------------------------


def http_json(method: str, url: str, body: dict | None = None, timeout: float = 30) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        fail(f"{method} {url}: HTTP {e.code}: {e.read().decode(errors='replace')}")


def cmd_register(args: argparse.Namespace) -> None:
    if args.secret is None:
        if args.dir is None:
            fail("register needs --secret or --dir")
        args.secret = secret_for(Path(args.dir), "registration_shared")
    if args.exist_ok and user_exists(args.base_url, args.user, args.password):
        print(json.dumps({"user_id": None, "existing": True}), flush=True)
        return
    url = args.base_url.rstrip("/") + "/_synapse/admin/v1/register"
    nonce = http_json("GET", url)["nonce"]
    # HMAC-SHA1 keyed with the shared secret over nonce, user, password and
    # admin flag, NUL-separated.
    message = "\0".join([nonce, args.user, args.password, "admin" if args.admin else "notadmin"])
    mac = hmac.new(args.secret.encode(), message.encode(), hashlib.sha1)
    resp = http_json(
        "POST",
        url,
        {
            "nonce": nonce,
            "username": args.user,
            "password": args.password,
            "admin": args.admin,
            "mac": mac.hexdigest(),
        },
    )
    print(
        json.dumps(
            {"user_id": resp["user_id"], "access_token": resp["access_token"], "device_id": resp.get("device_id")}
        ),
        flush=True,
    )


def user_exists(base_url: str, user: str, password: str) -> bool:
    """Whether `user` can already log in with `password`."""
    url = base_url.rstrip("/") + "/_matrix/client/v3/login"
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password}
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30):
            return True
    except urllib.error.HTTPError:
        return False


# --- command line ------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="configure and start Synapse in the background")
    start.add_argument("--dir", required=True, help="directory for config, keys, logs and the PID file")
    start.add_argument("--server-name", default="localhost", help="Matrix server name (default: localhost)")
    start.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    start.add_argument("--public-baseurl", help="public_baseurl (default: http://127.0.0.1:PORT/)")
    start.add_argument("--url-preview", action="store_true", help="enable URL previews")
    start.add_argument(
        "--url-preview-allow",
        action="append",
        metavar="CIDR",
        help="with --url-preview: a range to allow despite the blacklist (repeatable)",
    )
    start.add_argument("--max-upload-size", default="100M", help="max_upload_size (default: 100M)")
    start.add_argument(
        "--bridge",
        action="append",
        metavar="ID:SENDER:USER_REGEX",
        help="register an application service (a bridge) with this id, sender localpart and user namespace (repeatable)",
    )
    start.add_argument("--federation-tls-port", type=int, help="also serve federation over TLS on this port")
    start.add_argument("--tls-cert", help="with --federation-tls-port: the certificate chain (PEM)")
    start.add_argument("--tls-key", help="with --federation-tls-port: the private key (PEM)")
    start.add_argument(
        "--federation-ca",
        metavar="PEM",
        help="verify other servers against this CA, and allow federation over loopback",
    )
    start.add_argument("--https-proxy", metavar="URL", help="send outbound HTTPS (federation) through this proxy")
    start.add_argument(
        "--synapse-defaults",
        action="store_true",
        help="leave the settings the profiles' homeserver_settings ask for (room_list_publication_rules, "
        "user_directory.search_all_users, enable_authenticated_media) at Synapse's own defaults",
    )
    start.add_argument(
        "--set",
        action="append",
        metavar="KEY=JSON",
        help="set a homeserver.yaml key (dotted, e.g. user_directory.search_all_users=true) to a JSON value (repeatable)",
    )
    start.add_argument(
        "--watch-parent",
        type=int,
        metavar="PID",
        help="stop Synapse automatically when process PID exits",
    )
    start.set_defaults(func=cmd_start)

    stop = sub.add_parser("stop", help="stop the Synapse started in --dir")
    stop.add_argument("--dir", required=True)
    stop.add_argument("--keep-data", action="store_true", help="keep the tmpfs database and media store")
    stop.set_defaults(func=cmd_stop)

    reg = sub.add_parser("register", help="register a user with the shared secret")
    reg.add_argument("--base-url", required=True, help="Synapse (or gateway) base URL")
    secret = reg.add_mutually_exclusive_group()
    # A secret may begin with "-": pass it as --secret=VALUE, or use --dir.
    secret.add_argument("--secret", help="registration_shared_secret (as --secret=VALUE)")
    secret.add_argument("--dir", help="read the secret of the Synapse started in this --dir")
    reg.add_argument("--exist-ok", action="store_true", help="succeed if the user can already log in")
    reg.add_argument("--user", required=True, help="localpart")
    reg.add_argument("--password", required=True)
    reg.add_argument("--admin", action="store_true", help="make the user a server admin")
    reg.set_defaults(func=cmd_register)

    watchdog = sub.add_parser("_watchdog")  # internal, spawned by start --watch-parent
    watchdog.add_argument("--dir", required=True)
    watchdog.add_argument("--parent", type=int, required=True)
    watchdog.add_argument("--parent-start", required=True)
    watchdog.add_argument("--synapse", type=int, required=True)
    watchdog.set_defaults(func=cmd_watchdog)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
