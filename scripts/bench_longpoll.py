#!/usr/bin/env python3
"""Long polls held through a proxy: nginx and sectorgate side by side.

Matrix clients hold a `/sync` open nearly all the time. A slow stand-in
homeserver (asyncio, on core 0) holds every `/sync` for --hold seconds and
answers everything else at once (`/account/whoami` names a user). nginx
(`proxy_pass`) and sectorgate (profile `base`, audit on /dev/shm) proxy to
it, each alone on core 1, started afresh. For each proxy: the latency of
quick requests (`GET /versions`, one connection each, --quick of them, 8 at
a time) is measured; then N clients each send a `/sync`; once the stand-in
holds all of them, the proxy's resident memory is read and the quick
requests are measured again. Reports memory per held request and p50/p99 of
the quick requests without and with the long polls held.

    scripts/bench_longpoll.py --sectorgate BIN [--long-polls 10000] [--hold 30]

Needs nginx (scripts/bench-proxy.sh installs it). Prints a Markdown table.
"""

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port, rss_bytes, start_nginx, start_sectorgate, stop, wait_ready

TOKEN = "bench-user-token"


# ---------------------------------------------------------------- the stand-in


async def stand_in(port, hold):
    held = 0

    async def serve(reader, writer):
        nonlocal held
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1]
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                if b"/sync" in target:
                    held += 1
                    await asyncio.sleep(hold)
                    held -= 1
                    body = b'{"next_batch":"s1","rooms":{}}'
                elif b"/account/whoami" in target:
                    body = b'{"user_id":"@bench:localhost","device_id":"BENCH"}'
                elif target.startswith(b"/held"):
                    body = str(held).encode()
                else:
                    body = b"{}"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------- clients


async def get(port, path, token=None):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{auth}\r\n".encode())
    await writer.drain()
    return reader, writer


async def answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    return head.split(b" ", 2)[1], body


async def quick(port, count):
    """Latencies (ms) of `count` quick requests, 8 at a time."""
    latencies = []
    semaphore = asyncio.Semaphore(8)

    async def one():
        async with semaphore:
            began = time.perf_counter()
            reader, writer = await get(port, "/_matrix/client/versions")
            status, _ = await answer(reader)
            latencies.append((time.perf_counter() - began) * 1000)
            writer.close()
            if status != b"200":
                raise RuntimeError(f"a quick request got {status}")

    await asyncio.gather(*(one() for _ in range(count)))
    return latencies


async def held_count(upstream_port):
    reader, writer = await get(upstream_port, "/held")
    _, body = await answer(reader)
    writer.close()
    return int(body)


async def measure(pid, port, upstream_port, long_polls, count, hold):
    before = rss_bytes(pid)
    idle = await quick(port, count)
    polls = []
    for _ in range(long_polls):
        polls.append(await get(port, "/_matrix/client/v3/sync?timeout=30000", TOKEN))
    deadline = time.time() + hold / 2
    while (held := await held_count(upstream_port)) < long_polls:
        if time.time() > deadline:
            try:
                first = await asyncio.wait_for(answer(polls[0][0]), 1)
            except asyncio.TimeoutError:
                first = "none yet"
            raise RuntimeError(
                f"the stand-in holds {held} of {long_polls} long polls; the first was answered {first}")
        await asyncio.sleep(0.2)
    holding = rss_bytes(pid)
    busy = await quick(port, count)
    answered = 0
    for reader, writer in polls:
        status, _ = await answer(reader)
        answered += status == b"200"
        writer.close()
    return before, holding, idle, busy, answered


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sectorgate", help="the gateway binary")
    parser.add_argument("--long-polls", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds the stand-in holds a /sync")
    parser.add_argument("--quick", type=int, default=1_000, help="quick requests per measurement")
    parser.add_argument("--serve-stand-in", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()

    # A proxy holds two sockets per long poll: the client's and the
    # stand-in's.
    limit = 2 * args.long_polls + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(limit, soft), max(limit, hard)))
    except (ValueError, OSError):
        sys.exit(f"bench_longpoll: cannot raise the open-file limit to {limit} (hard limit {hard})")
    if args.serve_stand_in:
        asyncio.run(stand_in(args.serve_stand_in, args.hold))
        return
    if not args.sectorgate:
        sys.exit("bench_longpoll: --sectorgate BIN is needed")

    work = tempfile.mkdtemp(prefix="sectorgate-longpoll-")
    upstream_port = free_port()
    upstream = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, __file__, "--serve-stand-in", str(upstream_port),
         "--hold", str(args.hold), "--long-polls", str(args.long_polls)])
    audit = None
    rows = []
    try:
        nginx_port = free_port()
        nginx = start_nginx(
            work, "nginx",
            f"upstream hs {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}\n"
            f"server {{ listen 127.0.0.1:{nginx_port} backlog=4096; location / {{"
            f" proxy_pass http://hs; proxy_http_version 1.1; proxy_set_header Connection \"\";"
            f" proxy_read_timeout 120s; }} }}", 1)
        wait_ready(nginx_port, nginx, "nginx")
        rows.append(("nginx", asyncio.run(measure(
            nginx.pid, nginx_port, upstream_port, args.long_polls, args.quick, args.hold))))
        stop(nginx)
        gateway, gateway_port, audit = start_sectorgate(work, args.sectorgate, upstream_port, 1, {}, 0)
        wait_ready(gateway_port, gateway, "sectorgate")
        rows.append(("sectorgate", asyncio.run(measure(
            gateway.pid, gateway_port, upstream_port, args.long_polls, args.quick, args.hold))))
        stop(gateway)
    finally:
        stop(upstream)
        shutil.rmtree(work, ignore_errors=True)
        if audit:
            shutil.rmtree(audit, ignore_errors=True)

    print(f"| {args.long_polls} long polls held {args.hold:.0f} s | memory per held request "
          "| quick p50 / p99, none held | quick p50 / p99, all held | long polls answered |")
    print("|---|---:|---:|---:|---:|")
    for name, (before, holding, idle, busy, answered) in rows:
        per = (holding - before) / args.long_polls
        print(f"| {name} | {per:,.0f} B | {statistics.median(idle):.2f} / {percentile(idle, 0.99):.2f} ms "
              f"| {statistics.median(busy):.2f} / {percentile(busy, 0.99):.2f} ms | {answered} |")


if __name__ == "__main__":
    main()
