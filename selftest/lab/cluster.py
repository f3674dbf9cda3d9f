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

from kubeproof.kind import nodefs

from . import nodeimage, pins, podman
from .progress import say

def kubeconfig(name: str = pins.CLUSTER) -> Path:
    return pins.CACHE / ("kubeconfig" if name == pins.CLUSTER else f"kubeconfig-{name}")


CLUSTER_CONFIG = Path(__file__).resolve().parents[2] / "kubeproof" / "kind" / "cluster.yaml"
WORKERS = 2


def _path_dir(release: pins.Release) -> Path:
    """What users of the lab call (kubectl, kind, crictl); kubectl of the release, within its skew."""
    path_dir = pins.CACHE / "path" / release.kubernetes
    path_dir.mkdir(parents=True, exist_ok=True)
    for name, target in (("kubectl", release.bin / "kubectl"), ("kind", pins.BIN / "kind"),
                         ("crictl", pins.BIN / "crictl")):
        link = path_dir / name
        if not link.is_symlink():
            link.symlink_to(target)
    return path_dir


def environment(release: pins.Release = pins.DEFAULT) -> dict[str, str]:
    """What a shell needs to use the lab: kubectl and kind on PATH, kind on podman, the node image."""
    return {**podman.env(), "KUBEPROOF_KIND_IMAGE": release.node_image, "KUBEPROOF_PROBE_IMAGE": pins.BUSYBOX_IMAGE,
            "KUBEPROOF_TOOLS_IMAGE": pins.TOOLS_IMAGE,
            "PATH": f"{_path_dir(release)}:{os.environ.get('PATH', '')}"}


def run_env(release: pins.Release = pins.DEFAULT) -> dict[str, str]:
    return {**os.environ, **environment(release)}


def exports(release: pins.Release = pins.DEFAULT, extra: dict[str, str] | None = None) -> str:
    values = {**environment(release), **(extra or {})}
    values["PATH"] = f"{_path_dir(release)}:$PATH"
    return "; ".join(f"export {key}={value if key == 'PATH' else shlex.quote(value)}"
                     for key, value in values.items())


AUDIT_LOG = "/var/log/kubernetes/lab-audit.log"   # on the control-plane node
# The API server's audit log, for the RBAC selftests: kubeproof's own config plus instrumentation.
AUDIT_PATCH = f"""kind: ClusterConfiguration
apiServer:
  extraArgs:
    audit-policy-file: /etc/kubernetes/lab-audit/audit-policy.yaml
    audit-log-path: {AUDIT_LOG}
    audit-log-maxsize: "100"
    audit-log-maxbackup: "1"
  extraVolumes:
  - name: lab-audit-policy
    hostPath: /etc/kubernetes/lab-audit
    mountPath: /etc/kubernetes/lab-audit
    readOnly: true
    pathType: Directory
  - name: lab-audit-log
    hostPath: /var/log/kubernetes
    mountPath: /var/log/kubernetes
    pathType: DirectoryOrCreate
"""


# On a release with the kubelet's drop-in directory GA (1.35), the lab's workers prove that
# kubeproof judges what the kubelet runs, not only its --config file (docs/lab.md):
# the first worker keeps kubeadm's --config and gets its eviction settings from a drop-in; the
# second runs on drop-ins alone (its kubeadm config moved into the directory, no --config).
# Every kubeadm config.yaml also asks the kubelet (1.33+) to fill in the default signals kind's evictionHard
# leaves out: /configz shows it did on the nodes with a --config file, and did not on the drop-ins-only
# worker, where the setting sits in a drop-in and does nothing; the judges must say the same.
MERGE_DEFAULTS_PATCH = "kind: KubeletConfiguration\nmergeDefaultEvictionSettings: true\n"
EVICTION_DROP_IN = "50-kubeproof-lab-eviction.conf"
EVICTION_DROP_IN_TEXT = ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                         "evictionHard:\n  memory.available: 200Mi\n")
DROP_INS_ONLY_UNIT = "/etc/systemd/system/kubelet.service.d/30-kubeproof-lab-drop-ins-only.conf"


def _cache_file(name: str, text: str) -> Path:
    """A file for the nodes to mount, in the cache rather than the checkout: the config (and so the
    cluster) is the same whichever checkout runs `up`."""
    path = pins.CACHE / "mounts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _config(path: Path, release: pins.Release) -> bool:
    """Write kubeproof's own kind config with two workers and the audit log; True if it changed."""
    config = yaml.safe_load(CLUSTER_CONFIG.read_text())
    control_planes = [n for n in config["nodes"] if n.get("role") != "worker"]
    worker = next((n for n in config["nodes"] if n.get("role") == "worker"), {"role": "worker"})
    policy = _cache_file("audit/audit-policy.yaml", (pins.FILES / "audit-policy.yaml").read_text())
    for node in control_planes:
        node.setdefault("extraMounts", []).append(
            {"hostPath": str(policy.parent), "containerPath": "/etc/kubernetes/lab-audit", "readOnly": True})
    workers = [dict(worker) for _ in range(WORKERS)]
    if nodeimage.has_drop_in_dir(release):
        eviction = _cache_file(EVICTION_DROP_IN, EVICTION_DROP_IN_TEXT)
        workers[0]["extraMounts"] = [*worker.get("extraMounts", []), {
            "hostPath": str(eviction), "containerPath": f"{nodeimage.DROP_IN_DIR}/{EVICTION_DROP_IN}", "readOnly": True}]
    config["nodes"] = control_planes + workers
    config.setdefault("kubeadmConfigPatches", []).append(AUDIT_PATCH)
    if nodeimage.has_drop_in_dir(release):
        config["kubeadmConfigPatches"].append(MERGE_DEFAULTS_PATCH)
    # A new node image means a new cluster: the recipe is part of what `up` compares.
    text = (f"# node image {release.node_image}, recipe {nodeimage.current_recipe(release)}\n"
            + yaml.safe_dump(config, sort_keys=False))
    changed = not path.exists() or path.read_text() != text
    path.write_text(text)
    return changed


def _drop_ins_only(name: str, release: pins.Release) -> None:
    """The second worker's kubelet: its kubeadm config becomes a drop-in and --config goes."""
    if not nodeimage.has_drop_in_dir(release):
        return
    unit = ("[Unit]\n# kind's kubelet.service waits for config.yaml; an empty line clears that.\n"
            "ConditionPathExists=\n[Service]\n# 10-kubeadm.conf passes --config in KUBELET_CONFIG_ARGS.\n"
            "Environment=KUBELET_CONFIG_ARGS=\n")
    script = (f"set -e; mv /var/lib/kubelet/config.yaml {nodeimage.DROP_IN_DIR}/00-kubeadm.conf; "
              f"cat > {DROP_INS_ONLY_UNIT}; systemctl daemon-reload; systemctl restart kubelet; "
              # Healthy again before `up` goes on: the node would read Ready for 40 s either way.
              "for _ in $(seq 60); do curl -sf http://127.0.0.1:10248/healthz >/dev/null && exit 0; sleep 1; done; "
              "journalctl -u kubelet --no-pager | tail -5; exit 1")
    done = subprocess.run(["podman", "exec", "-i", f"{name}-worker2", "sh", "-c", script], input=unit,
                          env=run_env(release), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lab: {name}-worker2's kubelet did not come back on drop-ins alone: {done.stdout}{done.stderr}")


# Every node's kubelet, containerd and their pods share the host's inotify limits (one user
# namespace); Debian's 128 instances run out with the second cluster, and kubelets then fail to
# start ("error creating fsnotify watcher: too many open files"). kind's known-issues page gives
# the same remedy.
HOST_SYSCTLS = {"fs.inotify.max_user_instances": 8192, "fs.inotify.max_user_watches": 1048576}


def prepare_host() -> None:
    # kind bind-mounts the host's /lib/modules read-only; this machine's kernel ships none.
    Path("/lib/modules").mkdir(exist_ok=True)
    for key, value in HOST_SYSCTLS.items():
        path = Path("/proc/sys") / key.replace(".", "/")
        if int(path.read_text()) < value:
            path.write_text(str(value))
    allow_pod_traffic()


def _healthy(release: pins.Release, name: str) -> bool:
    return kubectl(release, name, "get", "--raw", "/readyz", timeout=20).returncode == 0


def kind(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([str(pins.BIN / "kind"), *args], env=run_env(), text=True, capture_output=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise SystemExit(f"lab: kind {' '.join(args)} failed (exit {result.returncode}): "
                         f"{(result.stderr.strip().splitlines() or [''])[-1]}")
    return result


def clusters() -> list[str]:
    return kind("get", "clusters").stdout.split()


def kubectl(release: pins.Release, name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(release.bin / "kubectl"), f"--kubeconfig={kubeconfig(name)}", *args], env=run_env(release),
                          capture_output=True, text=True, timeout=timeout)


def create(release: pins.Release, name: str) -> None:
    config = pins.CACHE / f"cluster-{name}.yaml"
    changed = _config(config, release)
    if name in clusters():
        # A machine that ended its session kills the nodes' processes but podman still lists them
        # as running: the export then fails ("cannot exec in a stopped container").
        exported = kind("export", "kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig(name)),
                        check=False).returncode == 0
        if exported and not changed and _healthy(release, name):
            say(f"cluster {name} exists; reusing it")
            prepare_host()
            return
        reason = "its config changed" if changed else "does not answer" if exported else "its nodes are not running"
        say(f"cluster {name} exists but {reason}: recreating it")
        kind("delete", "cluster", "--name", name)
    say(f"creating kind cluster {name} (1 control plane, {WORKERS} workers) ...")
    prepare_host()
    started = time.monotonic()
    for attempt in (1, 2):
        # kind's own progress goes to the terminal: a person sees which step it is in.
        result = subprocess.run([str(pins.BIN / "kind"), "create", "cluster", "--name", name, "--config", str(config),
                                 "--image", release.node_image, "--kubeconfig", str(kubeconfig(name)), "--wait", "5m",
                                 "--retain"], env=run_env(release), text=True)
        if result.returncode == 0:
            break
        _diagnose(name)
        kind("delete", "cluster", "--name", name, check=False)
        if attempt == 2:
            raise SystemExit(f"lab: kind create cluster {name} failed twice (exit {result.returncode}); see above")
        say("kind create failed; the control plane's kubelet said the above; trying once more")
    _drop_ins_only(name, release)
    say(f"cluster {name} created in {time.monotonic() - started:.0f} s")


# Docker sets this host's FORWARD policy to DROP and br_netfilter hands bridged frames to it;
# netavark accepts only the node subnet, so traffic between pods on different nodes (pod
# addresses, kind's podSubnet) would be dropped on the bridge. Docker's kind network has no such
# gap. By subnet, so it holds for every kind cluster, made before or after.
POD_SUBNET = "10.244.0.0/16"
FORWARD_RULES = [("FORWARD", direction, POD_SUBNET, "-m", "comment", "--comment", "kubeproof-lab", "-j", "ACCEPT")
                 for direction in ("-s", "-d")]


def allow_pod_traffic() -> None:
    for rule in FORWARD_RULES:
        if subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode != 0:
            subprocess.run(["iptables", "-I", *rule], check=True)


def remove_pod_traffic_rule() -> None:
    for rule in FORWARD_RULES:
        while subprocess.run(["iptables", "-D", *rule], capture_output=True).returncode == 0:
            pass


def _diagnose(name: str) -> None:
    """What the control plane's kubelet and runtime said, before kind's retained nodes go."""
    script = ("systemctl is-active kubelet containerd; crictl ps -a 2>&1 | head -20; "
              "journalctl -u kubelet --no-pager 2>&1 | grep -E '^.{0,40}(E[0-9]{4}|F[0-9]{4})' | tail -15")
    out = subprocess.run(["podman", "exec", f"{name}-control-plane", "sh", "-c", script],
                         capture_output=True, text=True, env=run_env())
    print(out.stdout + out.stderr, file=sys.stderr)


def wait_ready(release: pins.Release, name: str, timeout: float = 300) -> None:
    """Every node Ready and every kube-system pod running: what an audit of a new cluster expects."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = json.loads(kubectl(release, name, "get", "nodes", "-o", "json").stdout or '{"items": []}')["items"]
        pods = json.loads(kubectl(release, name, "get", "pods", "-n", "kube-system", "-o", "json").stdout
                          or '{"items": []}')["items"]
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
    _detach_loop_devices()
    return removed


def _detach_loop_devices() -> None:
    """Loop devices are the host's: one a kind node mounted for its kubelet (kubeproof/kind/nodefs.py)
    is freed with its mount, but a node killed mid-mount could leave it attached."""
    listed = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        if Path(nodefs.IMAGE).name in line:
            subprocess.run(["losetup", "-d", line.split(":", 1)[0]], capture_output=True)
