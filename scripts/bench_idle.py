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
import resource
import shutil
import statistics
import sys
import tempfile

from benchlib import free_port, rss_bytes, start_nginx, start_sectorgate, stop, wait_ready

REQUEST = b"GET /_matrix/client/versions HTTP/1.1\r\nHost: bench\r\n\r\n"


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


async def measure(pid, port, count, settle, after_close):
    before = rss_bytes(pid)
    held = await open_idle(port, count)
    await asyncio.sleep(settle)
    holding = rss_bytes(pid)
    for writer in held:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in held), return_exceptions=True)
    await asyncio.sleep(after_close)
    after = rss_bytes(pid)
    return before, holding, after


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sectorgate", required=True, help="the gateway binary")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each reading")
    parser.add_argument("--after-close", type=float, default=None,
                        help="seconds between the close and the last reading (default: --settle)")
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
                    measure(process.pid, port, args.connections, args.settle,
                            args.settle if args.after_close is None else args.after_close))
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
