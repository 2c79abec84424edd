"""Shared by the memory benchmarks (bench_idle.py, bench_longpoll.py):
starting nginx and the gateway pinned to a core, waiting for them, reading
their resident memory, stopping them."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_bin():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not found:
        sys.exit("bench_idle: nginx is not installed (scripts/bench-proxy.sh installs it)")
    return found


def nginx_conf(folder, server):
    return f"""worker_processes 1;
daemon off;
master_process on;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 65536; }}
worker_rlimit_nofile 65536;
http {{
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{server}
}}
"""


def start_nginx(work, name, server, cpu):
    folder = tempfile.mkdtemp(prefix=f"{name}-", dir=work)
    conf = os.path.join(folder, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(folder, server))
    return subprocess.Popen(
        ["taskset", "-c", str(cpu), nginx_bin(), "-p", folder, "-c", conf, "-e", f"{folder}/error.log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_sectorgate(work, binary, upstream_port, cpu, env, round_, profile="base", store="sqlite"):
    """The gateway in front of the upstream, its audit log on /dev/shm
    (`store`: "sqlite" or "journal"); the process, its port, the audit
    folder."""
    folder = os.path.join(work, f"sectorgate-{round_}")
    audit = tempfile.mkdtemp(prefix="sectorgate-idle-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.makedirs(folder)
    token = os.path.join(folder, "appservice.token")
    with open(token, "w") as f:
        f.write("bench-token\n")
    port, admin = free_port(), free_port()
    database = f"journal:{audit}/journal" if store == "journal" else f"sqlite://{audit}/audit.db"
    config = os.path.join(folder, "sectorgate.toml")
    with open(config, "w") as f:
        f.write(f"""[listen]
client = "127.0.0.1:{port}"
admin = "127.0.0.1:{admin}"

[homeserver]
url = "http://127.0.0.1:{upstream_port}"
appservice_token_file = "{token}"

[profile]
bundled = "{profile}"

[limits]
# Every connection comes from 127.0.0.1; idle ones are kept as nginx keeps them.
max_connections_per_address = 0
header_read_timeout = "300s"

[audit]
database = "{database}"
checkpoint_key = "{folder}/checkpoint.key"
pseudonym_keys = "{folder}/pseudonym-keys"

[telemetry]
log_format = "json"
log_filter = "warn"
""")
    log = open(os.path.join(folder, "sectorgate.log"), "w")
    process = subprocess.Popen(
        ["taskset", "-c", str(cpu), binary, "serve", "--config", config],
        stdout=log,
        stderr=log,
        env={**os.environ, **env},
    )
    return process, port, audit


def wait_ready(port, process, name):
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"bench_idle: {name} exited during startup")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_matrix/client/versions", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"bench_idle: {name} did not answer within 60 s")


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def with_children(pid):
    """The process and its children (nginx's workers)."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def cpu_ticks(pid):
    """utime+stime, in clock ticks, of the process and its children."""
    total = 0
    for p in with_children(pid):
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def rss_bytes(pid):
    """VmRSS of the process and its children (nginx's workers)."""
    total = 0
    for p in with_children(pid):
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total
