"""Lab clusters: kind (podman provider) with the lab's node image, from kubeproof's own cluster config."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import pins, podman
from .progress import say

def kubeconfig(name: str = pins.CLUSTER) -> Path:
    return pins.CACHE / ("kubeconfig" if name == pins.CLUSTER else f"kubeconfig-{name}")


PATH_DIR = pins.CACHE / "path"     # only what users of the lab call: kubectl, kind, crictl
CLUSTER_CONFIG = Path(__file__).resolve().parents[2] / "kubeproof" / "kind" / "cluster.yaml"
WORKERS = 2


def environment() -> dict[str, str]:
    """What a shell needs to use the lab: kubectl and kind on PATH, kind on podman, the node image."""
    PATH_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("kubectl", "kind", "crictl"):
        link = PATH_DIR / name
        if not link.is_symlink():
            link.symlink_to(pins.BIN / name)
    return {**podman.env(), "KUBEPROOF_KIND_IMAGE": pins.NODE_IMAGE, "KUBEPROOF_PROBE_IMAGE": pins.BUSYBOX_IMAGE,
            "PATH": f"{PATH_DIR}:{os.environ.get('PATH', '')}"}


def run_env() -> dict[str, str]:
    return {**os.environ, **environment()}


def exports(extra: dict[str, str] | None = None) -> str:
    values = {**environment(), **(extra or {})}
    values["PATH"] = f"{PATH_DIR}:$PATH"
    return "; ".join(f"export {key}={value if key == 'PATH' else shlex.quote(value)}"
                     for key, value in values.items())


def _config(path: Path) -> Path:
    """kubeproof's own kind config with two workers: the nodes a lab audit walks."""
    config = yaml.safe_load(CLUSTER_CONFIG.read_text())
    nodes = [n for n in config["nodes"] if n.get("role") != "worker"]
    worker = next((n for n in config["nodes"] if n.get("role") == "worker"), {"role": "worker"})
    config["nodes"] = nodes + [dict(worker) for _ in range(WORKERS)]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def kind(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(pins.BIN / "kind"), *args], env=run_env(), check=check, text=True,
                          capture_output=True, timeout=timeout)


def clusters() -> list[str]:
    return kind("get", "clusters").stdout.split()


def kubectl(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(pins.BIN / "kubectl"), f"--kubeconfig={kubeconfig(name)}", *args], env=run_env(),
                          capture_output=True, text=True, timeout=timeout)


def create(name: str = pins.CLUSTER) -> None:
    if name in clusters():
        say(f"cluster {name} exists; reusing it")
        allow_pod_traffic()
        kind("export", "kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig(name)))
        return
    say(f"creating kind cluster {name} (1 control plane, {WORKERS} workers) ...")
    # kind bind-mounts the host's /lib/modules read-only; this machine's kernel ships none.
    Path("/lib/modules").mkdir(exist_ok=True)
    started = time.monotonic()
    config = _config(pins.CACHE / f"cluster-{name}.yaml")
    for attempt in (1, 2):
        # kind's own progress goes to the terminal: a person sees which step it is in.
        result = subprocess.run([str(pins.BIN / "kind"), "create", "cluster", "--name", name, "--config", str(config),
                                 "--image", pins.NODE_IMAGE, "--kubeconfig", str(kubeconfig(name)), "--wait", "5m",
                                 "--retain"], env=run_env(), text=True)
        if result.returncode == 0:
            break
        _diagnose(name)
        kind("delete", "cluster", "--name", name, check=False)
        if attempt == 2:
            raise SystemExit(f"lab: kind create cluster {name} failed twice (exit {result.returncode}); see above")
        say("kind create failed; the control plane's kubelet said the above; trying once more")
    allow_pod_traffic()
    say(f"cluster {name} created in {time.monotonic() - started:.0f} s")


# Docker sets this host's FORWARD policy to DROP and br_netfilter hands bridged frames to it;
# netavark accepts only the node subnet, so pod-to-pod traffic between nodes (pod addresses)
# would be dropped on the bridge. Docker's own kind network has the same rule built in.
FORWARD_RULE = ("FORWARD", "-i", "{bridge}", "-o", "{bridge}", "-m", "comment", "--comment", "kubeproof-lab", "-j", "ACCEPT")


def _bridge() -> str:
    out = subprocess.run(["podman", "network", "inspect", "kind"], capture_output=True, text=True, env=run_env())
    return json.loads(out.stdout)[0]["network_interface"] if out.returncode == 0 else ""


def allow_pod_traffic() -> None:
    bridge = _bridge()
    rule = [part.format(bridge=bridge) for part in FORWARD_RULE]
    if bridge and subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode != 0:
        subprocess.run(["iptables", "-I", *rule], check=True)


def remove_pod_traffic_rule() -> None:
    bridge = _bridge()
    rule = [part.format(bridge=bridge) for part in FORWARD_RULE]
    while bridge and subprocess.run(["iptables", "-D", *rule], capture_output=True).returncode == 0:
        pass


def _diagnose(name: str) -> None:
    """What the control plane's kubelet and runtime said, before kind's retained nodes go."""
    script = ("systemctl is-active kubelet containerd; crictl ps -a 2>&1 | head -20; "
              "journalctl -u kubelet --no-pager 2>&1 | grep -E '^.{0,40}(E[0-9]{4}|F[0-9]{4})' | tail -15")
    out = subprocess.run(["podman", "exec", f"{name}-control-plane", "sh", "-c", script],
                         capture_output=True, text=True, env=run_env())
    print(out.stdout + out.stderr, file=sys.stderr)


def wait_ready(name: str = pins.CLUSTER, timeout: float = 300) -> None:
    """Every node Ready and every kube-system pod running: what an audit of a new cluster expects."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = json.loads(kubectl(name, "get", "nodes", "-o", "json").stdout or '{"items": []}')["items"]
        pods = json.loads(kubectl(name, "get", "pods", "-n", "kube-system", "-o", "json").stdout or '{"items": []}')["items"]
        not_ready = [n["metadata"]["name"] for n in nodes
                     if not any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]
        not_running = [p["metadata"]["name"] for p in pods if p.get("status", {}).get("phase") != "Running"]
        if nodes and not not_ready and pods and not not_running:
            say(f"{len(nodes)} nodes Ready, {len(pods)} kube-system pods running")
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"lab: not ready after {timeout:.0f} s: nodes {not_ready or '-'}, pods {not_running or '-'}")
        say(f"waiting: nodes not Ready {not_ready or '-'}, pods not running {not_running or '-'}")
        time.sleep(5)


def delete_all() -> list[str]:
    """Remove every kind cluster on the lab's provider whose name kubeproof or the lab gave it."""
    removed = []
    for name in clusters():
        if name.startswith("kubeproof"):
            kind("delete", "cluster", "--name", name)
            removed.append(name)
    remove_pod_traffic_rule()
    return removed
