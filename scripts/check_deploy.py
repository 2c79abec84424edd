"""Structural checks of the deployment artefacts, for scripts/check-deploy.sh.

Linters and schemas say a file is well formed; these checks say the files
agree with each other and with the gateway: the stop timeouts exceed the
config's grace + drain, every instance has its own audit origin and
checkpoint key and all share the config and the pseudonym keys, the probes
hit the admin listener, the build context holds what the Dockerfile copies
and no key or database.

    python3 scripts/check_deploy.py dockerfile ROOT CONTEXT_OUT
    python3 scripts/check_deploy.py kubernetes RENDERED_BASE RENDERED_WITH_MONITOR
    python3 scripts/check_deploy.py without-kind KIND IN OUT
    python3 scripts/check_deploy.py compose COMPOSE_FILE
    python3 scripts/check_deploy.py systemd UNIT_FILE
    python3 scripts/check_deploy.py syscalls UNIT_FILE STRACE_OUTPUT
    python3 scripts/check_deploy.py pseudonym-keys DIR PERIODS PERIOD_DAYS

Each prints what it checked and exits 1 on the first list of problems.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import yaml

# The gateway's defaults (deploy/sectorgate.example.toml, [shutdown]).
DEFAULT_GRACE = 5.0
DEFAULT_DRAIN = 30.0
# What the final checkpoint and the process exit get on top of grace + drain.
STOP_MARGIN = 5.0


class Problems:
    """Collects failed expectations; `done` reports them and exits."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.items: list[str] = []
        self.checked = 0

    def expect(self, condition: object, message: str) -> bool:
        self.checked += 1
        if not condition:
            self.items.append(message)
        return bool(condition)

    def done(self) -> None:
        if self.items:
            for item in self.items:
                print(f"  {self.what}: {item}", file=sys.stderr)
            sys.exit(1)
        print(f"{self.what}: {self.checked} expectations hold")


def seconds(text: str | int | float) -> float:
    """A duration as the gateway, Kubernetes, Compose or systemd writes it."""
    if isinstance(text, (int, float)):
        return float(text)
    total = 0.0
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "days": 86400, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text.strip())
    if not parts:
        raise ValueError(f"not a duration: {text!r}")
    for number, unit in parts:
        if (unit or "s") not in units:
            raise ValueError(f"unknown unit in duration {text!r}")
        total += float(number) * units[unit or "s"]
    return total


def stop_budget(config: dict) -> float:
    shutdown = config.get("shutdown", {})
    grace = seconds(shutdown.get("grace", DEFAULT_GRACE))
    drain = seconds(shutdown.get("drain", DEFAULT_DRAIN))
    return grace + drain + STOP_MARGIN


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


# --- Dockerfile and build context ---------------------------------------------


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker's matcher reads it."""
    pattern = os.path.normpath(pattern.strip().lstrip("/"))
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        else:
            out += re.escape(c)
        i += 1
    return re.compile(f"^{out}$")


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker sends `path`: the last rule matching it or a parent wins."""
    prefixes = []
    parts = path.split("/")
    for n in range(1, len(parts) + 1):
        prefixes.append("/".join(parts[:n]))
    excluded = False
    for negated, regex in rules:
        if any(regex.match(p) for p in prefixes):
            excluded = not negated
    return not excluded


SECRET_NAMES = ("*.key", "*.db", "*.db-*", "*.sqlite*", "sectorgate-pseudonym*", "sectorgate-checkpoint.key*", "*.pem")


def check_dockerfile(root: Path, out: Path) -> None:
    p = Problems("Dockerfile")
    dockerfile = root / "deploy/Dockerfile"
    steps = instructions(dockerfile)
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in steps:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    p.expect(len(stages) >= 2, "a build stage and a runtime stage")
    builder, final = stages[0], stages[-1]
    runs = " ".join(rest for k, rest in builder if k == "RUN")
    p.expect(
        re.search(r"cargo build\b.*--release", runs) and "--locked" in runs and "-p sectorgate" in runs,
        "the builder runs `cargo build --release --locked -p sectorgate`",
    )
    final_from = final[0][1]
    p.expect(":latest" not in final_from and ":" in final_from, f"the runtime image has a pinned tag ({final_from})")
    users = [rest for k, rest in final if k == "USER"]
    p.expect(users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), "the runtime stage runs as a fixed non-root UID")
    exposed = " ".join(rest for k, rest in final if k == "EXPOSE").split()
    p.expect("8080" in exposed and "8081" in exposed, "EXPOSE 8080 8081")
    p.expect(("STOPSIGNAL", "SIGTERM") in final, "STOPSIGNAL SIGTERM")
    volumes = " ".join(rest for k, rest in final if k == "VOLUME")
    p.expect("/var/lib/sectorgate" in volumes, "VOLUME /var/lib/sectorgate")
    p.expect(("WORKDIR", "/var/lib/sectorgate") in final, "WORKDIR /var/lib/sectorgate (relative paths land in the volume)")
    entry = " ".join(rest for k, rest in final if k == "ENTRYPOINT")
    p.expect("/usr/local/bin/sectorgate" in entry, "ENTRYPOINT the sectorgate binary")
    p.expect(not any(k == "ADD" for k, _ in steps), "COPY, never ADD")

    # The build context: what .dockerignore lets through, of the tracked files.
    rules = []
    for line in (root / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, ignore_regex(line[1:] if negated else line)))
    tracked = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], check=True, capture_output=True
    ).stdout.decode().split("\0")
    context = [f for f in tracked if f and (root / f).is_file() and in_context(f, rules)]
    leaked = [f for f in context if any(fnmatch.fnmatch(Path(f).name, n) for n in SECRET_NAMES)]
    p.expect(not leaked, f"no key or database in the build context: {leaked[:5]}")
    sources = []
    for keyword, rest in builder:
        if keyword == "COPY" and "--from" not in rest:
            args = [a for a in rest.split() if not a.startswith("--")]
            sources += args[:-1]
    for source in sources:
        source = source.rstrip("/")
        present = [f for f in context if under(f, source)]
        p.expect(present, f"COPY {source}: in the build context")
    if out.exists():
        shutil.rmtree(out)
    for f in context:
        if any(under(f, s.rstrip("/")) for s in sources):
            (out / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / f, out / f)
    size = sum((out / f).stat().st_size for f in context if (out / f).exists())
    print(f"Dockerfile: build context {len(context)} files, {size // 1024} KiB copied into the builder")
    p.done()


# --- Kubernetes ---------------------------------------------------------------


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_kubernetes(base_path: Path, monitored_path: Path) -> None:
    p = Problems("kubernetes")
    docs = documents(base_path)
    kinds = sorted(d["kind"] for d in docs)
    for kind in ("ConfigMap", "NetworkPolicy", "PodDisruptionBudget", "ServiceAccount", "StatefulSet"):
        p.expect(kind in kinds, f"the base has a {kind}")
    p.expect("ServiceMonitor" not in kinds, "the base has no ServiceMonitor (its CRD may be missing)")
    sets = by_kind(docs, "StatefulSet")
    if not sets:
        p.done()
    sts = sets[0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    p.expect(selects(spec["selector"]["matchLabels"], labels), "the StatefulSet's selector matches its pods")
    services = by_kind(docs, "Service")
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    client = [s for s in services if s["spec"].get("clusterIP") != "None"]
    p.expect(len(headless) == 1 and len(client) == 1, "a headless Service and a client Service")
    if headless:
        p.expect(spec["serviceName"] == headless[0]["metadata"]["name"], "serviceName is the headless Service")
    for s in services:
        p.expect(selects(s["spec"]["selector"], labels), f"Service {s['metadata']['name']} selects the pods")
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        p.expect(selects(pdb["spec"]["selector"]["matchLabels"], labels), "the PodDisruptionBudget selects the pods")

    (container,) = pod["containers"]
    env = container.get("env", [])
    names = [e["name"] for e in env]
    origin = next((e for e in env if e["name"] == "SECTORGATE_AUDIT_ORIGIN"), None)
    p.expect(origin and "$(POD_NAME)" in origin.get("value", ""), "SECTORGATE_AUDIT_ORIGIN is made from the pod's name")
    pod_name = next((e for e in env if e["name"] == "POD_NAME"), None)
    p.expect(
        pod_name
        and pod_name.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name"
        and names.index("POD_NAME") < names.index("SECTORGATE_AUDIT_ORIGIN"),
        "POD_NAME comes from the downward API, before it is used",
    )
    for e in env:
        for ref in re.findall(r"\$\(([A-Z_]+)\)", e.get("value", "")):
            p.expect(ref in names[: names.index(e["name"])], f"{e['name']} refers to {ref}, defined before it")
    p.expect("SECTORGATE_AUDIT_DATABASE" not in names, "the base keeps each pod's log in its own journal")
    p.expect(pod.get("enableServiceLinks") is False, "no Service link variables in the environment")

    # The config the pods read: from the generated ConfigMap.
    args = container.get("args", [])
    config_path = args[args.index("--config") + 1] if "--config" in args else ""
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    config_mount = next((m for path, m in mounts.items() if under(config_path, path)), None)
    config = {}
    if p.expect(config_mount, f"the config {config_path} is mounted"):
        volume = volumes[config_mount["name"]]
        cm_name = volume.get("configMap", {}).get("name")
        (cm,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == cm_name] or [None]
        if p.expect(cm, f"the config's ConfigMap {cm_name} is rendered"):
            p.expect(re.search(r"-[a-z0-9]{10}$", cm_name), "the ConfigMap's name carries a content hash")
            config = tomllib.loads(cm["data"]["sectorgate.toml"])
            for e in env:
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    p.expect(ref["name"] == cm_name and ref["key"] in cm["data"], f"{e['name']}: key in the ConfigMap")
    listen = config.get("listen", {})
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    p.expect(port_of(listen.get("client", ":0")) == ports.get("http"), "listen.client is the http port")
    p.expect(port_of(listen.get("admin", ":0")) == ports.get("admin"), "listen.admin is the admin port")
    p.expect(listen.get("admin", "").startswith("0.0.0.0:"), "the admin listener is reachable by the probes")
    audit = config.get("audit", {})
    p.expect("origin" not in audit, "the origin comes from the environment only")
    journal = audit.get("database", "").removeprefix("journal:")
    journal_mount = next((m for path, m in mounts.items() if under(journal, path)), None)
    p.expect(
        audit.get("database", "").startswith("journal:/") and journal_mount and journal_mount["name"] in claims,
        "the audit journal is on the pod's own claim",
    )
    tiles_mount = next((m for path, m in mounts.items() if under(audit.get("tiles", ""), path)), None)
    p.expect(tiles_mount and tiles_mount["name"] in claims, "the audit tiles are on the pod's own claim")
    index_mount = next((m for path, m in mounts.items() if under(audit.get("index", ""), path)), None)
    p.expect(index_mount and index_mount["name"] in claims, "the audit query index is on the pod's own claim")
    key = audit.get("checkpoint_key", "")
    key_mount = next((m for path, m in mounts.items() if under(key, path)), None)
    p.expect(key_mount and key_mount["name"] in claims, "the checkpoint key is on the pod's own claim")
    keys = audit.get("pseudonym_keys", "")
    keys_mount = mounts.get(keys)
    p.expect(
        keys_mount and "secret" in volumes.get(keys_mount["name"], {}) and keys_mount.get("readOnly"),
        "the pseudonym keys are one Secret, read-only, for every pod",
    )
    token = config.get("homeserver", {}).get("appservice_token_file", "")
    token_mount = next((m for path, m in mounts.items() if under(token, path)), None)
    p.expect(token_mount and "secret" in volumes.get(token_mount["name"], {}), "the appservice token is from a Secret")

    budget = stop_budget(config)
    p.expect(pod["terminationGracePeriodSeconds"] >= budget, f"terminationGracePeriodSeconds >= grace + drain + {STOP_MARGIN:g}s ({budget:g}s)")
    live = container.get("livenessProbe", {}).get("httpGet", {})
    ready = container.get("readinessProbe", {}).get("httpGet", {})
    p.expect(live.get("path") == "/health" and live.get("port") == "admin", "liveness: GET /health on the admin port")
    p.expect(ready.get("path") == "/ready" and ready.get("port") == "admin", "readiness: GET /ready on the admin port")

    psc = pod.get("securityContext", {})
    csc = container.get("securityContext", {})
    p.expect(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 0, "the pod runs as a non-root UID")
    p.expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccompProfile RuntimeDefault")
    p.expect(psc.get("fsGroup"), "fsGroup makes the volumes readable")
    p.expect(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    p.expect(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    p.expect(csc.get("capabilities", {}).get("drop") == ["ALL"], "all capabilities dropped")
    resources = container.get("resources", {})
    p.expect(resources.get("requests") and resources.get("limits", {}).get("memory"), "resource requests and a memory limit")
    p.expect(pod.get("automountServiceAccountToken") is False, "no service account token mounted")

    for policy in by_kind(docs, "NetworkPolicy"):
        p.expect(selects(policy["spec"]["podSelector"]["matchLabels"], labels), "the NetworkPolicy selects the pods")
        admin_rules = [
            r for r in policy["spec"].get("ingress", []) if any(x.get("port") in ("admin", ports.get("admin")) for x in r.get("ports", []))
        ]
        p.expect(admin_rules and all(r.get("from") for r in admin_rules), "the admin port admits chosen peers only")

    # The overlay with the ServiceMonitor component.
    monitored = documents(monitored_path)
    monitors = by_kind(monitored, "ServiceMonitor")
    if p.expect(len(monitors) == 1, "the servicemonitor component adds one ServiceMonitor"):
        monitor = monitors[0]
        chosen = [s for s in by_kind(monitored, "Service") if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
        p.expect(len(chosen) == 1 and chosen[0]["spec"].get("clusterIP") == "None", "it scrapes through the headless Service")
        port_names = {port.get("name") for s in chosen for port in s["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            p.expect(endpoint.get("port") in port_names and endpoint.get("path") == "/metrics", "it scrapes /metrics on the admin port")
        namespaces = {d["metadata"].get("namespace") for d in monitored}
        p.expect(len(namespaces) == 1, "the overlay puts everything in one namespace")
    # The overlay's postgres-audit component: the database URL from a Secret.
    (overlay_sts,) = by_kind(monitored, "StatefulSet") or [None]
    overlay_env = overlay_sts["spec"]["template"]["spec"]["containers"][0].get("env", []) if overlay_sts else []
    database = next((e for e in overlay_env if e["name"] == "SECTORGATE_AUDIT_DATABASE"), None)
    p.expect(
        database and "secretKeyRef" in database.get("valueFrom", {}),
        "the postgres-audit component takes the database URL from a Secret",
    )
    p.done()


def without_kind(kind: str, source: Path, target: Path) -> None:
    docs = [d for d in documents(source) if d.get("kind") != kind]
    target.write_text(yaml.safe_dump_all(docs, sort_keys=False))


# --- Compose ------------------------------------------------------------------


def named_volume(spec: str, declared: dict) -> tuple[str | None, str]:
    source, _, rest = spec.partition(":")
    target = rest.split(":")[0]
    return (source if source in declared else None), target


def check_compose(path: Path) -> None:
    p = Problems("compose")
    compose = yaml.safe_load(path.read_text())
    here = path.parent
    services = compose.get("services", {})
    declared = compose.get("volumes", {}) or {}
    secrets = compose.get("secrets", {}) or {}
    gateways = {
        name: s for name, s in services.items() if isinstance(s.get("build"), dict) and s["build"].get("dockerfile") == "deploy/Dockerfile"
    }
    p.expect(len(gateways) >= 2, f"two or more gateways built from deploy/Dockerfile ({sorted(gateways)})")
    images = {name: s.get("image", "") for name, s in services.items()}
    p.expect(any(i.startswith("postgres:") for i in images.values()), "a PostgreSQL service")
    synapse = [i for i in images.values() if i.startswith("matrixdotorg/synapse:")]
    p.expect(synapse and not synapse[0].endswith(":latest"), "Synapse from matrixdotorg/synapse, a pinned tag")
    for name, s in services.items():
        p.expect(s.get("healthcheck", {}).get("test"), f"{name} has a healthcheck")

    origins, databases, configs, key_volumes, data_volumes = {}, set(), set(), set(), {}
    for name, g in gateways.items():
        context = (here / g["build"]["context"]).resolve()
        p.expect((context / g["build"]["dockerfile"]).is_file(), f"{name}: the build context holds deploy/Dockerfile")
        env = g.get("environment", {})
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        origins[name] = env.get("SECTORGATE_AUDIT_ORIGIN")
        databases.add(env.get("SECTORGATE_AUDIT_DATABASE"))
        command = g.get("command", [])
        config_path = command[command.index("--config") + 1] if "--config" in command else ""
        mounts = {}
        for spec in g.get("volumes", []):
            volume, target = named_volume(spec, declared)
            mounts[target] = (volume, spec.split(":")[0])
        source = mounts.get(config_path, (None, None))[1]
        p.expect(source, f"{name}: its config {config_path} is mounted")
        configs.add(source)
        if not source or not (here / source).is_file():
            p.expect(False, f"{name}: the config file {source} exists")
            continue
        config = tomllib.loads((here / source).read_text())
        listen = config.get("listen", {})
        p.expect(listen.get("client", "").startswith("0.0.0.0:"), f"{name}: the client listener is reachable")
        for published in g.get("ports", []):
            host = str(published).rsplit(":", 1)
            if port_of(listen.get("admin", ":0")) == int(host[-1]):
                p.expect(str(published).startswith("127.0.0.1:"), f"{name}: the admin port is published on the loopback only")
        audit = config.get("audit", {})
        keys = audit.get("pseudonym_keys", "")
        p.expect(mounts.get(keys, (None,))[0], f"{name}: the pseudonym keys {keys} are a named volume")
        key_volumes.add(mounts.get(keys, (None,))[0])
        key = audit.get("checkpoint_key", "")
        holder = max((t for t in mounts if under(key, t)), key=len, default=None)
        data = mounts.get(holder, (None,))[0] if holder else None
        p.expect(data and data != mounts.get(keys, (None,))[0], f"{name}: the checkpoint key is on its own named volume")
        data_volumes[name] = data
        budget = stop_budget(config)
        p.expect(seconds(g.get("stop_grace_period", "10s")) >= budget, f"{name}: stop_grace_period >= grace + drain + {STOP_MARGIN:g}s ({budget:g}s)")
        p.expect(g.get("stop_signal", "SIGTERM") == "SIGTERM", f"{name}: stopped with SIGTERM")
        token = config.get("homeserver", {}).get("appservice_token_file", "")
        secret = token.removeprefix("/run/secrets/")
        p.expect(secret in secrets and secret in g.get("secrets", []), f"{name}: the appservice token is a compose secret")
        p.expect(g.get("read_only") is True and "ALL" in g.get("cap_drop", []), f"{name}: read-only, no capabilities")

    p.expect(all(origins.values()) and len(set(origins.values())) == len(origins), f"each gateway has its own audit origin {origins}")
    p.expect(len(databases) == 1 and None not in databases, "the gateways share one audit database URL")
    p.expect(len(configs) == 1, "the gateways share one config file")
    p.expect(len(key_volumes) == 1 and None not in key_volumes, "the gateways share one pseudonym key volume")
    p.expect(len(set(data_volumes.values())) == len(data_volumes), "each gateway has its own data volume")
    p.done()


# --- systemd ------------------------------------------------------------------


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def check_systemd(path: Path) -> None:
    p = Problems("systemd unit")
    s = unit_settings(path)
    exec_start = s.get("ExecStart", [""])[-1]
    p.expect(exec_start.startswith("/usr/local/bin/sectorgate serve --config /etc/sectorgate/sectorgate.toml"), "ExecStart serves /etc/sectorgate/sectorgate.toml")
    p.expect(any("-HUP $MAINPID" in r for r in s.get("ExecReload", [])), "ExecReload sends SIGHUP (the gateway reloads its profile)")
    p.expect(s.get("User") == ["sectorgate"], "User=sectorgate")
    p.expect(s.get("StateDirectory") == ["sectorgate"] and s.get("WorkingDirectory") == ["/var/lib/sectorgate"], "state in /var/lib/sectorgate, the working directory")
    p.expect(s.get("KillSignal") == ["SIGTERM"], "KillSignal=SIGTERM")
    budget = DEFAULT_GRACE + DEFAULT_DRAIN + STOP_MARGIN
    p.expect(seconds(s.get("TimeoutStopSec", ["90s"])[-1]) >= budget, f"TimeoutStopSec >= default grace + drain + {STOP_MARGIN:g}s ({budget:g}s)")
    p.expect(s.get("CapabilityBoundingSet") == [""], "an empty capability bounding set")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
    }.items():
        p.expect(s.get(key) == [value], f"{key}={value}")
    p.expect("@system-service" in s.get("SystemCallFilter", []), "SystemCallFilter=@system-service")
    p.done()


GROUPS: dict[str, set[str]] = {}


def expand(group: str) -> set[str]:
    """The system calls of a systemd group, nested groups included."""
    if group in GROUPS:
        return GROUPS[group]
    listing = subprocess.run(["systemd-analyze", "syscall-filter", group], check=True, capture_output=True, text=True).stdout
    calls: set[str] = set()
    for line in listing.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        calls |= expand(item) if item.startswith("@") else {item}
    GROUPS[group] = calls
    return calls


def check_syscalls(unit: Path, trace: Path) -> None:
    p = Problems("system calls")
    allowed: set[str] | None = None
    for value in unit_settings(unit).get("SystemCallFilter", []):
        deny = value.startswith("~")
        names: set[str] = set()
        for item in value.lstrip("~").split():
            names |= expand(item) if item.startswith("@") else {item}
        if deny:
            allowed = (allowed or set()) - names
        else:
            allowed = (allowed or set()) | names
    p.expect(allowed, "the unit has a SystemCallFilter")
    used = set()
    lines = trace.read_text().splitlines()
    # What ran before the gateway's own execve (setpriv dropping privileges)
    # is systemd's part: the filter applies from the execve on.
    start = next((n for n, line in enumerate(lines) if re.match(r'^\d+\s+execve\("[^"]*sectorgate"', line)), None)
    p.expect(start is not None, "the trace shows the gateway's execve")
    for line in lines[start or 0 :]:
        m = re.match(r"^\d+\s+(?:<\.\.\. ([a-z0-9_]+) resumed>|([a-z0-9_]+)\()", line)
        if m:
            used.add(m.group(1) or m.group(2))
    p.expect(len(used) > 20, f"the trace holds the gateway's system calls ({len(used)})")
    denied = sorted(used - (allowed or set()))
    p.expect(not denied, f"system calls the unit's filter would refuse: {denied}")
    print(f"system calls: {len(used)} distinct calls of a traced run, all in the unit's filter")
    p.done()


# --- pseudonym keys -----------------------------------------------------------


def check_pseudonym_keys(folder: Path, periods: int, period_days: int) -> None:
    p = Problems("pseudonym keys")
    today = int(time.time()) // 86400
    first = today // period_days
    expected = {time.strftime("%Y-%m-%d", time.gmtime((first + n) * period_days * 86400)) + ".key" for n in range(periods)}
    found = {f.name for f in folder.iterdir()}
    p.expect(found == expected, f"one key per period, named by its first day: {sorted(found)} != {sorted(expected)}")
    for name in found:
        f = folder / name
        p.expect(re.fullmatch(r"[0-9a-f]{64}", f.read_text().strip()), f"{name}: 64 hex digits")
        p.expect((f.stat().st_mode & 0o077) == 0, f"{name}: readable by its owner only")
    p.expect(len({(folder / n).read_text() for n in found}) == len(found), "every key differs")
    p.done()


def main(argv: list[str]) -> None:
    command, args = argv[1], argv[2:]
    if command == "dockerfile":
        check_dockerfile(Path(args[0]), Path(args[1]))
    elif command == "kubernetes":
        check_kubernetes(Path(args[0]), Path(args[1]))
    elif command == "without-kind":
        without_kind(args[0], Path(args[1]), Path(args[2]))
    elif command == "compose":
        check_compose(Path(args[0]))
    elif command == "systemd":
        check_systemd(Path(args[0]))
    elif command == "syscalls":
        check_syscalls(Path(args[0]), Path(args[1]))
    elif command == "pseudonym-keys":
        check_pseudonym_keys(Path(args[0]), int(args[1]), int(args[2]))
    else:
        sys.exit(f"check_deploy: unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
