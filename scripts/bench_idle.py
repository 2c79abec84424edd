#!/usr/bin/env python3
"""Memory held by idle keep-alive connections: nginx and sectorgate side by side.

An nginx stand-in upstream answers every request; an nginx `proxy_pass` and
sectorgate (profile `base`, audit on /dev/shm) proxy to it. For each proxy,
N client connections are opened, each sends one request and reads its answer,
and then all of them idle, kept alive. The proxy's resident memory (VmRSS,
summed over its processes) is read before, while they are held, and after
they are closed; the report gives bytes per connection and what is still held
after the close. Rounds alternate the proxies; medians are reported.

    scripts/bench_idle.py --sectorgate BIN [--connections 10000] [--rounds 3]

Needs nginx (scripts/bench-proxy.sh installs it). Prints a Markdown table.
"""

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REQUEST = b"GET /_matrix/client/versions HTTP/1.1\r\nHost: bench\r\n\r\n"


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


def start_sectorgate(work, binary, upstream_port, cpu, env, round_):
    folder = os.path.join(work, f"sectorgate-{round_}")
    audit = tempfile.mkdtemp(prefix="sectorgate-idle-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.makedirs(folder)
    token = os.path.join(folder, "appservice.token")
    with open(token, "w") as f:
        f.write("bench-token\n")
    port, admin = free_port(), free_port()
    config = os.path.join(folder, "sectorgate.toml")
    with open(config, "w") as f:
        f.write(f"""[listen]
client = "127.0.0.1:{port}"
admin = "127.0.0.1:{admin}"

[homeserver]
url = "http://127.0.0.1:{upstream_port}"
appservice_token_file = "{token}"

[profile]
bundled = "base"

[limits]
# Every connection comes from 127.0.0.1; idle ones are kept as nginx keeps them.
max_connections_per_address = 0
header_read_timeout = "300s"

[audit]
database = "sqlite://{audit}/audit.db"
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


def rss_bytes(pid):
    """VmRSS of the process and its children (nginx's workers)."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


async def open_idle(port, count):
    """Opens `count` connections, each sends one request and reads its
    answer head and body, then stays open."""
    held = []
    semaphore = asyncio.Semaphore(256)

    async def one():
        async with semaphore:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(REQUEST)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head[:40])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            held.append(writer)

    await asyncio.gather(*(one() for _ in range(count)))
    return held


async def measure(pid, port, count, settle):
    before = rss_bytes(pid)
    held = await open_idle(port, count)
    await asyncio.sleep(settle)
    holding = rss_bytes(pid)
    for writer in held:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in held), return_exceptions=True)
    await asyncio.sleep(settle)
    after = rss_bytes(pid)
    return before, holding, after


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sectorgate", required=True, help="the gateway binary")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each reading")
    parser.add_argument("--label", default="sectorgate", help="name of the gateway in the table")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of the gateway (e.g. an allocator's settings)")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 1024
    if hard < wanted:
        sys.exit(f"bench_idle: the open-file limit ({hard}) is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    env = dict(item.split("=", 1) for item in args.env)
    work = tempfile.mkdtemp(prefix="sectorgate-idle-")
    processes = []
    audits = []
    try:
        upstream_port = free_port()
        upstream = start_nginx(
            work, "upstream",
            f"server {{ listen 127.0.0.1:{upstream_port} backlog=4096; default_type application/json;"
            f" location / {{ return 200 '{{}}'; }} }}", 0)
        processes.append(upstream)
        results = {"nginx": [], args.label: []}
        # Each round starts each proxy afresh, so that no round inherits
        # what an earlier one left behind.
        for round_ in range(args.rounds):
            nginx_port = free_port()
            nginx = start_nginx(
                work, "nginx",
                f"upstream hs {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}\n"
                f"server {{ listen 127.0.0.1:{nginx_port} backlog=4096; location / {{"
                f" proxy_pass http://hs; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}", 1)
            gateway, gateway_port, audit = start_sectorgate(
                work, args.sectorgate, upstream_port, 1, env, round_)
            audits.append(audit)
            wait_ready(nginx_port, nginx, "nginx")
            wait_ready(gateway_port, gateway, "sectorgate")
            for name, process, port in [("nginx", nginx, nginx_port), (args.label, gateway, gateway_port)]:
                before, holding, after = asyncio.run(
                    measure(process.pid, port, args.connections, args.settle))
                results[name].append((before, holding, after))
                print(f"bench_idle: {name}: RSS {before / 2**20:.1f} MB, holding {holding / 2**20:.1f} MB,"
                      f" closed {after / 2**20:.1f} MB", file=sys.stderr)
                stop(process)

        print(f"| {args.connections} idle keep-alive connections, median of {args.rounds} | "
              "RSS before | held | per connection | still held after close |")
        print("|---|---|---|---|---|")
        summary = {}
        for name, rows in results.items():
            before = statistics.median(r[0] for r in rows)
            per = statistics.median((r[1] - r[0]) / args.connections for r in rows)
            held = statistics.median(r[1] - r[0] for r in rows)
            kept = statistics.median(r[2] - r[0] for r in rows)
            summary[name] = {"before": before, "held": held, "per_connection": per, "after_close": kept}
            print(f"| {name} | {before / 2**20:.1f} MB | +{held / 2**20:.1f} MB | {per:,.0f} B "
                  f"| {kept / 2**20:+.1f} MB |")
        print(json.dumps(summary), file=sys.stderr)
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)
        for audit in audits:
            shutil.rmtree(audit, ignore_errors=True)


if __name__ == "__main__":
    main()
