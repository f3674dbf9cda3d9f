"""Node containers carrying the field reports' flaws as they occur in the field: one flaw per node.

Every node starts as a healthy kubeadm control-plane node (`healthy()`: stand-in daemons named like
the real ones, a valid PKI, an explicit kubelet config, overlayfs, sane sysctls and limits), then
one FLAWS entry plants the single thing that broke in a report. The stand-in daemons are shell
scripts that sleep, named kubelet, containerd, kube-proxy, calico-node...: what the facts read of
them (comm, argv, /proc/PID/limits) is real, as are the ulimits, sysctls, filesystems, TIME_WAIT
sockets and certificates planted around them. Only the rpm stand-in of the systemd flaw answers
for a package database, since no CentOS 7.6 systemd can be installed on a Debian node.

`fleet()` starts them all (in parallel, ~1 s each) and removes every container, loop mount and
loop device on the way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import kubeadm_pki
from . import node_containers
from .kubeadm_pki import Symlink

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
HEALTHY_NOFILE = 20000  # the most any process can have on these machines (docs/lab.md)
# Named as the daemon it stands in for: its comm, argv and limits are real. The shell stays (no exec),
# or the comm would be sleep's. Asked for its version (gather.sh asks the kubelet), it answers as
# the kubeadm 1.32 kubelet it stands in for.
STAND_IN = b'#!/bin/sh\n[ "$1" = --version ] && exec echo "Kubernetes v1.32.4"\nsleep infinity &\nwait\n'
KUBELET_CONFIG = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
    "cgroupDriver": "systemd", "rotateCertificates": True,
    "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
    "evictionHard": {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
                     "imagefs.available": "15%", "imagefs.inodesFree": "5%"},
}
CONTAINERD_CONFIG = 'version = 2\nroot = "/var/lib/containerd"\n\n' \
                    '[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "overlayfs"\n'
NODEFS_MIB = 128  # the loop filesystem of the full-nodefs node
# Seconds a node container and its daemons get to come up: ~1 s, but 2 cores are often shared by
# several selftest runs starting containers at once.
READY_TIMEOUT = 90


def _kubeadm_probe(path: str, threshold: int) -> dict:
    return {"httpGet": {"host": "10.0.0.10", "path": path, "port": 6443, "scheme": "HTTPS"},
            "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 15,
            "failureThreshold": threshold}


def _static_pod(component: str, command: list[str], **container) -> dict:
    """A static pod manifest as kubeadm 1.30 writes it."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": component, "namespace": "kube-system",
                         "labels": {"component": component, "tier": "control-plane"}},
            "spec": {"hostNetwork": True, "priorityClassName": "system-node-critical", "containers": [{
                "name": component, "image": f"registry.k8s.io/{component}:v1.30.2",
                "command": [component, *command], **container}]}}


def apiserver(extra: tuple[str, ...] = (), **probes) -> dict:
    command = ["--advertise-address=10.0.0.10", "--allow-privileged=true", "--authorization-mode=Node,RBAC",
               "--client-ca-file=/etc/kubernetes/pki/ca.crt", "--secure-port=6443",
               "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
               "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key", *extra]
    defaults = {"livenessProbe": _kubeadm_probe("/livez", 8), "readinessProbe": _kubeadm_probe("/readyz", 3),
                "startupProbe": _kubeadm_probe("/livez", 24)}
    return _static_pod("kube-apiserver", command, **{**defaults, **probes})


def controller_manager(extra: tuple[str, ...] = ()) -> dict:
    return _static_pod("kube-controller-manager", [
        "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt",
        "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key",
        "--kubeconfig=/etc/kubernetes/controller-manager.conf", *extra])


@dataclass
class Recipe:
    name: str  # the container's name: the node's name, as kind names node containers
    run: dict[str, list[str]]  # docker run options: option -> values
    files: dict[str, bytes | Symlink]
    daemons: dict[str, list[str]]  # stand-in daemon -> its arguments
    nodefs_fill_percent: int | None = None  # /var/lib/kubelet on a loop filesystem this full
    time_wait: bool = False  # pile up TIME_WAIT sockets just before the audit

    def run_args(self) -> list[str]:
        return [a for option, values in self.run.items() for v in values for a in (option, v)]

    def put(self, path: str, data: dict | str | bytes) -> None:
        """Write path on the node: a dict as YAML, text as UTF-8."""
        text = yaml.safe_dump(data) if isinstance(data, dict) else data
        self.files[path] = text.encode() if isinstance(text, str) else text


def healthy(name: str) -> Recipe:
    recipe = Recipe(
        name=name,
        run={"--hostname": [name], "--ulimit": [f"nofile={HEALTHY_NOFILE}:{HEALTHY_NOFILE}"],
             "--sysctl": ["net.core.somaxconn=65535", "net.ipv4.ip_local_port_range=1024 65535"],
             # nodefs and imagefs of their own, so that free space does not hang on the host's disk
             "--tmpfs": ["/var/lib/kubelet", "/var/lib/containerd", "/var/lib/docker"]},
        files=dict(kubeadm_pki.files(name, NOW)),
        daemons={"kubelet": ["--config=/var/lib/kubelet/config.yaml", "--kubeconfig=/etc/kubernetes/kubelet.conf"],
                 "containerd": [], "kube-proxy": ["--config=/var/lib/kube-proxy/config.conf"],
                 "calico-node": ["-felix"]},
    )
    recipe.put("/var/lib/kubelet/config.yaml", KUBELET_CONFIG)
    recipe.put("/etc/containerd/config.toml", CONTAINERD_CONFIG)
    recipe.put("/etc/kubernetes/manifests/kube-apiserver.yaml", apiserver())
    recipe.put("/etc/kubernetes/manifests/kube-controller-manager.yaml", controller_manager())
    return recipe


# -- the flaws: each changes a healthy node the way a field report's node was broken -----------------

def _nofile(r: Recipe) -> None:  # 001 §4: Ubuntu's default open-files limit
    r.run["--ulimit"] = ["nofile=1024:1024"]


def _time_wait(r: Recipe) -> None:  # 001 §4: connections piling up in TIME_WAIT, table full
    r.run["--sysctl"].append("net.ipv4.tcp_max_tw_buckets=16")
    r.time_wait = True


def _expiring_pki(r: Recipe) -> None:  # 000 §2: kubeadm's one-year certificates at their end
    days = dt.timedelta(days=1)
    r.files.update(kubeadm_pki.files(r.name, NOW, {
        "apiserver": 10 * days, "etcd-server": 5 * days, "front-proxy-client": 20 * days, "admin": -2 * days}))


def _no_rotation(r: Recipe) -> None:  # the kubelet's client certificate will expire unrenewed
    r.put("/var/lib/kubelet/config.yaml", {**KUBELET_CONFIG, "rotateCertificates": False})


def _ten_year_signing(r: Recipe) -> None:  # 000 §2's fix: ten-year certificates
    r.put("/etc/kubernetes/manifests/kube-controller-manager.yaml",
          controller_manager(("--experimental-cluster-signing-duration=87600h",)))


def _partial_eviction(r: Recipe) -> None:  # 001 §3's partial set, in a 1.32 kubelet's config file
    r.put("/var/lib/kubelet/config.yaml", {**KUBELET_CONFIG, "evictionHard": {
        "memory.available": "5%", "nodefs.available": "25%", "imagefs.available": "25%"}})


def _full_nodefs(r: Recipe) -> None:  # 002: the root partition at 92%
    r.run["--tmpfs"].remove("/var/lib/kubelet")
    r.nodefs_fill_percent = 92


def _renamed_host(r: Recipe) -> None:  # 001 §5: renamed in place to the EC2 scheme
    r.run["--hostname"] = ["ip-10-0-0-7.ec2.internal"]


def _devicemapper(r: Recipe) -> None:  # 001 §2: docker on devicemapper, its data moved as 002 moved it
    r.put("/etc/docker/daemon.json", json.dumps({"storage-driver": "devicemapper", "data-root": "/data/docker"}))
    r.run["--tmpfs"].append("/data/docker")
    r.daemons["dockerd"] = ["-H", "unix:///var/run/docker.sock"]
    # A docker node whose hostname differs from its name on purpose, pinned by --hostname-override:
    # the hostname test must honour the override and pass here.
    r.run["--hostname"] = ["docker-host-17"]
    r.daemons["kubelet"] += ["--container-runtime-endpoint=unix:///run/cri-dockerd.sock",
                             f"--hostname-override={r.name}"]


def _anonymous_auth_off(r: Recipe) -> None:  # 002: --anonymous-auth=false beside kubeadm's probes
    r.put("/etc/kubernetes/manifests/kube-apiserver.yaml", apiserver(("--anonymous-auth=false",)))


def _insecure_port(r: Recipe) -> None:  # 002's own fix: probe the insecure port instead
    probe = {"httpGet": {"host": "127.0.0.1", "path": "/healthz", "port": 8080, "scheme": "HTTP"},
             "initialDelaySeconds": 15, "timeoutSeconds": 15, "failureThreshold": 8}
    r.put("/etc/kubernetes/manifests/kube-apiserver.yaml", apiserver(
        ("--anonymous-auth=false", "--insecure-bind-address=127.0.0.1", "--insecure-port=8080"),
        livenessProbe=probe, startupProbe=probe))


def _desktop_sysctls(r: Recipe) -> None:  # 004: what the ingress init container had to raise
    r.run["--sysctl"] = ["net.core.somaxconn=128"]  # and the kernel's default port range


def _pleg_systemd(r: Recipe) -> None:  # 004: CentOS 7.6's systemd, as its package manager reports it
    r.put("/usr/local/bin/rpm", '#!/bin/sh\n[ "$*" = "-q systemd" ] && echo systemd-219-62.el7_6.6.x86_64\n')


@dataclass(frozen=True)
class Flaw:
    plant: Callable[[Recipe], None]
    fails: dict[str, tuple[str, ...]]  # test -> fragments its message must hold ({name}: the node)


FLAWS: dict[str, Flaw] = {
    "clean": Flaw(lambda r: None, {}),
    "nofile-1024": Flaw(_nofile, {"test_node_daemons_open_file_limits": (
        "kubelet (pid ", "containerd (pid ", "kube-proxy (pid ", "calico-node (pid ",
        "hard nofile 1024 < 20000 minimum (short by 18976): its soft limit (1024) cannot be raised that far")}),
    "time-wait": Flaw(_time_wait, {"test_socket_tables_have_headroom": (
        "TIME_WAIT sockets 16 = 100% of net.ipv4.tcp_max_tw_buckets 16 > 80% maximum (12; over by 4)",)}),
    "expiring-pki": Flaw(_expiring_pki, {"test_certificates_valid_past_the_horizon": (
        "/etc/kubernetes/pki/apiserver.crt (CN=kube-apiserver) expires", "< 30-day horizon (short by",
        "/etc/kubernetes/pki/etcd/server.crt (CN={name}) expires", "/etc/kubernetes/pki/front-proxy-client.crt",
        "/etc/kubernetes/admin.conf (client-certificate-data) (O=system:masters,CN=kubernetes-admin) expired",
        "ago < 30-day horizon")}),
    "no-rotation": Flaw(_no_rotation, {"test_kubelet_rotates_its_client_certificate": (
        "kubelet client certificate rotation is off: rotateCertificates: false in /var/lib/kubelet/config.yaml",
        "CN system:node:{name}")}),
    "ten-year-signing": Flaw(_ten_year_signing, {"test_cluster_signing_duration_is_bounded": (
        "/etc/kubernetes/manifests/kube-controller-manager.yaml", "--experimental-cluster-signing-duration=87600h",
        "3650 days")}),
    "partial-eviction": Flaw(_partial_eviction, {"test_no_eviction_signal_is_disabled": (
        "nodefs.inodesFree is disabled: evictionHard in /var/lib/kubelet/config.yaml does not list it",
        "imagefs.inodesFree is disabled", "list every signal (kubelet 1.32.4 has no mergeDefaultEvictionSettings)")}),
    "full-nodefs": Flaw(_full_nodefs, {"test_free_space_above_eviction_thresholds": (
        "nodefs /var/lib/kubelet (/dev/loop", "free (8.0%) <", "required by the kubelet's nodefs.available<10% plus "
        "the 5% margin (short by")}),
    "renamed-host": Flaw(_renamed_host, {"test_hostname_matches_the_registered_node_name": (
        "hostname ip-10-0-0-7.ec2.internal != registered node name {name} (from the kubelet client certificate "
        "/var/lib/kubelet/pki/kubelet-client-current.pem, CN system:node:{name})",)}),
    "devicemapper": Flaw(_devicemapper, {"test_container_storage_is_no_fallback_driver": (
        "docker storage driver devicemapper (from /etc/docker/daemon.json storage-driver) is a fallback driver",)}),
    "anonymous-auth-off": Flaw(_anonymous_auth_off, {"test_apiserver_probes_pass_its_authentication": (
        "/etc/kubernetes/manifests/kube-apiserver.yaml", "--anonymous-auth=false",
        "livenessProbe is an unauthenticated HTTPS GET /livez on port 6443")}),
    "insecure-port": Flaw(_insecure_port, {"test_apiserver_probes_pass_its_authentication": (
        "--insecure-port=8080 serves the whole API without authentication",)}),
    "desktop-sysctls": Flaw(_desktop_sysctls, {"test_kernel_tunables_meet_what_the_node_runs": (
        "net.core.somaxconn 128 < 65535 minimum (short by 65407) for the profile's node-wide minimum",
        "net.ipv4.ip_local_port_range 32768 60999 offers 28232 ports < 64511 minimum (short by 36279)")}),
    "pleg-systemd": Flaw(_pleg_systemd, {"test_systemd_is_not_a_known_bad_build": (
        "systemd package systemd-219-62.el7_6.6.x86_64 is systemd-219-62.el7_6.6",)}),
}


# -- starting and removing them ----------------------------------------------------------------------

def _mode(path: str) -> int:
    if path.startswith("/usr/local/bin/"):
        return 0o755
    return 0o600 if path.endswith((".key", ".pem", ".conf")) else 0o644


def _plant_files(name: str, files: dict[str, bytes | Symlink]) -> None:
    """Write every file in one `docker exec ... tar -x`, not one exec per file."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.mtime = int(NOW.timestamp())
            if isinstance(content, Symlink):
                info.type, info.linkname = tarfile.SYMTYPE, content.target
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), _mode(path)
                tar.addfile(info, io.BytesIO(content))
    node_containers.docker("exec", "-i", name, "tar", "-x", "-C", "/", input=archive.getvalue())


def _start_daemons(name: str, daemons: dict[str, list[str]]) -> None:
    script = "".join(f"{shlex.join([f'/usr/local/bin/{d}', *args])} >/dev/null 2>&1 &\n" for d, args in daemons.items())
    node_containers.docker("exec", "-d", name, "sh", "-c", script)
    wanted = " ".join(daemons)
    wait = f'for d in {wanted}; do grep -qx "$d" /proc/[0-9]*/comm || exit 1; done'
    deadline = time.monotonic() + READY_TIMEOUT
    while node_containers.docker("exec", name, "sh", "-c", wait, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"stand-in daemons {wanted} did not all start in {name}")
        time.sleep(0.1)


class _LoopFilesystem:
    """An ext4 image loop-mounted on a host directory: a node's disk of a chosen size."""

    def __init__(self, mib: int):
        self.dir = Path(tempfile.mkdtemp(prefix="kubeproof-nodefs-", dir="/var/tmp"))
        self.image, self.mount = self.dir / "nodefs.img", self.dir / "mnt"
        self.mount.mkdir()
        subprocess.run(["truncate", "-s", f"{mib}M", str(self.image)], check=True)
        # -m 0: no blocks reserved for root, so df and statvfs agree on what is free (docs/lab.md)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(self.image)], check=True)
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mount)], check=True,
                       capture_output=True)

    def fill(self, percent: int) -> None:
        """Allocate a file so that the filesystem is percent full."""
        stat = os.statvfs(self.mount)
        size, avail = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
        subprocess.run(["fallocate", "-l", str(int(avail - size * (100 - percent) / 100)),
                        str(self.mount / "kubeproof-fill")], check=True)

    def remove(self) -> None:
        if os.path.ismount(self.mount):
            subprocess.run(["umount", str(self.mount)], check=True, capture_output=True)
        # mount -o loop detaches its device on umount; detach whatever else still holds the image
        held = subprocess.run(["losetup", "-n", "-O", "NAME", "-j", str(self.image)],
                              capture_output=True, text=True).stdout.split()
        for device in held:
            subprocess.run(["losetup", "-d", device], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def fleet(image: str, flaws: dict[str, Flaw] = FLAWS) -> Iterator[dict[str, Recipe]]:
    """Start one node per flaw; yield {flaw: recipe} (recipe.name is the container); remove all after."""
    recipes = {flaw: healthy(node_containers.container_name()) for flaw in flaws}
    for flaw, recipe in recipes.items():
        flaws[flaw].plant(recipe)
    containers: list[str] = []
    filesystems: list[_LoopFilesystem] = []

    def start(recipe: Recipe) -> None:
        args = recipe.run_args()
        if recipe.nodefs_fill_percent is not None:
            filesystem = _LoopFilesystem(NODEFS_MIB)
            filesystems.append(filesystem)
            args += ["-v", f"{filesystem.mount}:/var/lib/kubelet"]
        containers.append(recipe.name)  # before docker run: removed even if it fails half-way
        node_containers.start_node(image, recipe.name, args, ready_timeout=READY_TIMEOUT)
        _plant_files(recipe.name, {**recipe.files, **{f"/usr/local/bin/{d}": STAND_IN for d in recipe.daemons}})
        _start_daemons(recipe.name, recipe.daemons)
        if recipe.nodefs_fill_percent is not None:
            filesystem.fill(recipe.nodefs_fill_percent)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for done in [pool.submit(start, r) for r in recipes.values()]:
                done.result()
        yield recipes
    finally:
        failures = []
        for name in containers:  # first: the containers hold the loop mounts
            try:
                node_containers.remove_node(name)
            except RuntimeError as exc:
                failures.append(str(exc))
        for filesystem in filesystems:
            try:
                filesystem.remove()
            except subprocess.CalledProcessError as exc:
                failures.append(f"{filesystem.mount}: {exc.stderr.decode(errors='replace').strip()}")
        if failures:
            raise RuntimeError("; ".join(failures))


# Run in the node's network namespace: the client closes first, so its side of each connection
# lingers in TIME_WAIT for 60 s; past net.ipv4.tcp_max_tw_buckets the kernel keeps no more.
_TIME_WAIT = """
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
for _ in range(int(sys.argv[1])):
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    client.close()
    accepted.close()
"""


def pile_up_time_wait(name: str, connections: int = 40) -> None:
    """TIME_WAIT sockets in the node's own network namespace (they last 60 s: plant just before use)."""
    pid = node_containers.docker("inspect", "--format", "{{.State.Pid}}", name).stdout.decode().strip()
    subprocess.run(["nsenter", "-t", pid, "-n", sys.executable, "-c", _TIME_WAIT, str(connections)],
                   check=True, capture_output=True, timeout=60)


# -- dying memory cgroups: a flaw of the kernel, so of every node sharing it -------------------------

MEMORY_HIERARCHY = Path("/sys/fs/cgroup/memory")

# Each cgroup is entered, charged with a page-cache page by writing a file, left and removed: it
# stays counted as dying for as long as that page is charged to it, the modern shape of the leak.
_DYING = """
import os, sys
parent, files, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
me = str(os.getpid())
os.mkdir(parent)
for i in range(count):
    cgroup = f"{parent}/c{i}"
    os.mkdir(cgroup)
    with open(f"{cgroup}/cgroup.procs", "w") as f:
        f.write(me)
    with open(f"{files}/f{i}", "wb") as f:
        f.write(b"x" * 4096)
    with open(f"{parent}/cgroup.procs", "w") as f:
        f.write(me)
    os.rmdir(cgroup)
with open(f"{os.path.dirname(parent)}/cgroup.procs", "w") as f:
    f.write(me)
os.rmdir(parent)
"""


def memory_cgroup_counts() -> tuple[int, int]:
    """(num_cgroups of the memory controller in /proc/cgroups, live memory cgroup directories)."""
    num = next(int(line.split()[2]) for line in Path("/proc/cgroups").read_text().splitlines()
               if line.split()[:1] == ["memory"])
    return num, sum(1 for _ in os.walk(MEMORY_HIERARCHY))


@contextlib.contextmanager
def dying_memory_cgroups(count: int) -> Iterator[None]:
    """count memory cgroups removed but pinned by page cache charged to them, released on exit."""
    parent = MEMORY_HIERARCHY / f"kubeproof-dying-{uuid.uuid4().hex[:8]}"
    files = Path(tempfile.mkdtemp(prefix="kubeproof-dying-", dir="/var/tmp"))
    baseline = memory_cgroup_counts()[0]
    try:
        subprocess.run([sys.executable, "-c", _DYING, str(parent), str(files), str(count)],
                       check=True, capture_output=True, timeout=120)
        yield
    finally:
        # Uncharging the pages (deleting the files) releases the dying cgroups; remove any left live.
        shutil.rmtree(files, ignore_errors=True)
        for directory, _, _ in sorted(os.walk(parent), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        deadline = time.monotonic() + 10
        while memory_cgroup_counts()[0] > baseline + count // 10 and time.monotonic() < deadline:
            time.sleep(0.1)
