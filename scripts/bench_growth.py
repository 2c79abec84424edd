#!/usr/bin/env python3
"""How the gateway's cost grows: SVG plots for docs/benchmarks.md.

    scripts/bench_growth.py --sectorgate target/release/sectorgate [--only sizes,connections,pdus,rules]
                            [--rounds 3] [--duration 5] [--out docs]
    scripts/bench_growth.py --only none      # draws the plots again from OUT/growth.json

Four sweeps, each a plot in OUT (growth-<name>.svg) and its numbers in
OUT/growth.json:

  sizes        PUT of an m.text event of 1 to 60 KB, through nginx and through
               the gateway (healthcare-tim-pro, the audit journal on /dev/shm):
               CPU per request and p99 (wrk, 32 connections)
  connections  the same 1 KB PUT over 1 to 10,000 connections: CPU per
               request and p99, both proxies
  pdus         a federation transaction of 1 to 50 PDUs: verifying its
               X-Matrix signature, and classify+decide of every PDU (criterion,
               `cargo bench -p sectorgate-federation --bench transaction`)
  rules        classify+decide under healthcare-tim-pro extended by 10 to 1,000
               event rules and content schemas (criterion, `cargo bench -p
               sectorgate-policy --bench classify_decide -- profile_size`)

The HTTP sweeps pin wrk to core 0 and the proxies and the stand-in upstream
(nginx answering as a homeserver does) to core 1, as scripts/bench-proxy.sh
does; each point is the median of ROUNDS runs of DURATION seconds. The
criterion sweeps need cargo. matplotlib draws the plots; when missing it is
installed into a virtualenv under ~/.cache/sectorgate.
"""

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES_KB = [1, 2, 4, 8, 16, 32, 60]
CONNECTIONS = [1, 10, 100, 1000, 10000]
ROOM = "/_matrix/client/v3/rooms/!bench:localhost/send/m.room.message/"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def with_matplotlib():
    """Re-runs this script in a virtualenv with matplotlib, if it is missing."""
    try:
        import matplotlib  # noqa: F401
        return
    except ImportError:
        pass
    venv = os.path.expanduser("~/.cache/sectorgate/venv-plots")
    python = os.path.join(venv, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(python):
        sys.exit("bench_growth: matplotlib did not install")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "matplotlib"], check=True)
    os.execv(python, [python, *sys.argv])


# ---------------------------------------------------------------- HTTP sweeps

UPSTREAM = """    server {{
        listen 127.0.0.1:{port} backlog=4096;
        default_type application/json;
        client_max_body_size 1m;
        location ~ ^/_matrix/client/(v3|r0)/account/whoami$ {{
            return 200 '{{"user_id":"@bench:localhost","device_id":"BENCHDEVICE"}}';
        }}
        location ~ /state/m\\.room\\.encryption/?$ {{
            return 404 '{{"errcode":"M_NOT_FOUND","error":"no encryption"}}';
        }}
        location ~ /state/m\\.room\\.join_rules/?$ {{
            return 200 '{{"join_rule":"public"}}';
        }}
        location / {{
            return 200 '{{}}';
        }}
    }}"""

PROXY = """    upstream homeserver {{
        server 127.0.0.1:{upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=65535;
        client_max_body_size 1m;
        # Bodies up to 64 KB kept in memory, not written to a temporary
        # file first (which made each 16 KB PUT wait about 40 ms).
        client_body_buffer_size 128k;
        location / {{
            proxy_pass http://homeserver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""

WRK_SCRIPT = """
local file = assert(io.open("{body}", "rb"))
local body = file:read("*a")
file:close()
local headers = {{["Authorization"] = "Bearer benchtoken", ["Content-Type"] = "application/json"}}
local prefix, counter = "", 0
function init(args) prefix = (args[1] or "g") .. "." .. tostring(math.random(1, 1e9)) .. "." end
function request()
    counter = counter + 1
    return wrk.format("PUT", "{room}" .. prefix .. counter, headers, body)
end
local bad = 0
function response(status) if status < 200 or status > 299 then bad = bad + 1 end end
function done(summary, latency)
    io.write(string.format("GROWTH requests=%d p99_us=%d errors=%d\\n", summary.requests,
        latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout))
end
"""


def message_body(path, kilobytes):
    prefix, suffix = '{"msgtype":"m.text","body":"', '"}'
    n = kilobytes * 1024 - len(prefix) - len(suffix)
    with open(path, "w") as f:
        f.write(prefix + ("The quick brown fox jumps over the lazy dog. " * (n // 45 + 1))[:n] + suffix)


def run_wrk(url, script, connections, duration, pid, tag):
    threads = 1 if connections < 2 else 2
    before = benchlib.cpu_ticks(pid)
    out = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
         "--timeout", "30s", "-s", script, url, "--", tag],
        capture_output=True, text=True, check=True,
    ).stdout
    spent = (benchlib.cpu_ticks(pid) - before) / CLK_TCK * 1e6
    found = re.search(r"GROWTH requests=(\d+) p99_us=(\d+) errors=(\d+)", out)
    if not found:
        sys.exit(f"bench_growth: wrk said {out!r}")
    requests, p99, errors = (int(x) for x in found.groups())
    if errors or requests == 0:
        sys.exit(f"bench_growth: {errors} errors in {requests} requests at {url} ({connections} connections)")
    return {"cpu_us": spent / requests, "p99_ms": p99 / 1000, "rps": requests / duration}


def http_sweeps(args, work, which):
    upstream_port, nginx_port = benchlib.free_port(), benchlib.free_port()
    upstream = benchlib.start_nginx(work, "upstream", UPSTREAM.format(port=upstream_port), 1)
    nginx = benchlib.start_nginx(work, "nginx", PROXY.format(upstream=upstream_port, port=nginx_port), 1)
    gateway, gateway_port, audit = benchlib.start_sectorgate(
        work, args.sectorgate, upstream_port, 1, {}, "growth", profile="healthcare-tim-pro", store="journal")
    targets = {"nginx": (nginx, nginx_port), "sectorgate": (gateway, gateway_port)}
    results = {}
    try:
        time.sleep(1)
        benchlib.wait_ready(nginx_port, nginx, "nginx")
        benchlib.wait_ready(gateway_port, gateway, "sectorgate")
        body = os.path.join(work, "body.json")
        script = os.path.join(work, "put.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT.format(body=body, room=ROOM))
        sweeps = []
        if "sizes" in which:
            sweeps.append(("sizes", [(kb, kb, 32) for kb in SIZES_KB]))
        if "connections" in which:
            sweeps.append(("connections", [(n, 1, n) for n in CONNECTIONS]))
        for name, points in sweeps:
            results[name] = {target: [] for target in targets}
            for x, kilobytes, connections in points:
                message_body(body, kilobytes)
                for target, (process, port) in targets.items():
                    url = f"http://127.0.0.1:{port}"
                    runs = [run_wrk(url, script, connections, args.duration, process.pid, f"{name}{x}r{r}")
                            for r in range(args.rounds)]
                    point = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
                    point["x"] = x
                    results[name][target].append(point)
                    print(f"{name:12} {x:>6} {target:10} {point['cpu_us']:8.1f} us/req  p99 {point['p99_ms']:7.2f} ms"
                          f"  {point['rps']:9.0f} req/s", flush=True)
    finally:
        for process in (gateway, nginx, upstream):
            benchlib.stop(process)
        subprocess.run(["rm", "-rf", audit])
    return results


# ---------------------------------------------------------------- criterion sweeps

def criterion(package, bench, group, extra):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "bench", "--locked", "-p", package, "--bench", bench, "--", group, *extra],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    found = {}
    for path in glob.glob(os.path.join(target, "criterion", group, "**", "new", "benchmark.json"), recursive=True):
        with open(path) as f:
            meta = json.load(f)
        with open(os.path.join(os.path.dirname(path), "estimates.json")) as f:
            median_ns = json.load(f)["median"]["point_estimate"]
        found.setdefault(meta["function_id"], []).append({"x": int(meta["value_str"]), "cpu_us": median_ns / 1000})
    return {name: sorted(points, key=lambda p: p["x"]) for name, points in found.items()}


# ---------------------------------------------------------------- plots

def plot(path, title, xlabel, series, log_x, with_p99):
    import matplotlib
    matplotlib.use("Agg")
    # The same numbers draw the same file (no random ids in the SVG).
    matplotlib.rcParams["svg.hashsalt"] = "sectorgate"
    import matplotlib.pyplot as plt

    panels = 2 if with_p99 else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.6), squeeze=False)
    for panel, (key, label) in enumerate([("cpu_us", "CPU per request (µs)"), ("p99_ms", "p99 (ms)")][:panels]):
        ax = axes[0][panel]
        for name, points in series.items():
            ax.plot([p["x"] for p in points], [p[key] for p in points], marker="o", label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        if log_x:
            ax.set_xscale("log")
        if log_x and key == "p99_ms":
            # Over four orders of magnitude of connections, so is p99.
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sectorgate", help="the gateway binary (a release build), for sizes and connections")
    parser.add_argument("--only", default="sizes,connections,pdus,rules")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"))
    args = parser.parse_args()
    with_matplotlib()
    which = set(args.only.split(","))
    os.makedirs(args.out, exist_ok=True)
    data_file = os.path.join(args.out, "growth.json")
    data = {}
    if os.path.exists(data_file):
        with open(data_file) as f:
            data = json.load(f)
    if which & {"sizes", "connections"}:
        if not args.sectorgate:
            sys.exit("bench_growth: sizes and connections need --sectorgate BINARY")
        if not shutil.which("wrk"):
            sys.exit("bench_growth: wrk is not installed (scripts/bench-proxy.sh installs it with nginx)")
        with tempfile.TemporaryDirectory(prefix="sectorgate-growth-") as work:
            data.update(http_sweeps(args, work, which))
    if "pdus" in which:
        data["pdus"] = criterion("sectorgate-federation", "transaction", "transaction", [])
    if "rules" in which:
        data["rules"] = criterion("sectorgate-policy", "classify_decide", "profile_size", [])
    if which & {"sizes", "connections", "pdus", "rules"}:
        data["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(data_file, "w") as f:
        json.dump(data, f, indent=1)
    charts = {
        "sizes": ("PUT of an m.text event: nginx and sectorgate (healthcare-tim-pro)", "event size (KB)", False, True),
        "connections": ("1 KB PUT over N connections: nginx and sectorgate", "connections", True, True),
        "pdus": ("A federation transaction (in process, median per transaction)", "PDUs in the transaction", False, False),
        "rules": ("classify+decide, healthcare-tim-pro plus N rules and schemas", "rules and schemas added", True, False),
    }
    for name, (title, xlabel, log_x, with_p99) in charts.items():
        if name in data:
            path = os.path.join(args.out, f"growth-{name}.svg")
            plot(path, title, xlabel, data[name], log_x, with_p99)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
