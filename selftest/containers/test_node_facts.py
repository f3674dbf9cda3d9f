"""Node facts gathered for real: from this host (local://) and from a node container (docker://).

Nothing is mocked: the facts are checked against what the host's /proc and /sys say, and against
flaws planted in a systemd node container the way they happen in the field.
"""

from __future__ import annotations

import base64
import datetime as dt
import glob
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from selftest.support import kubeadm_pki
from selftest.support import node_containers
from selftest.support.kubeadm_pki import key_pem, pem
from kubeproof.errors import NodeUnreachable
from kubeproof.nodes import gather, transport
from kubeproof.nodes.facts import NodeFacts

STATIC_SYSCTLS = ["fs.file-max", "fs.nr_open", "net.core.somaxconn", "net.ipv4.ip_local_port_range",
                  "fs.inotify.max_user_instances", "fs.inotify.max_user_watches",
                  "net.netfilter.nf_conntrack_max", "net.ipv4.tcp_max_tw_buckets"]
DYNAMIC_SYSCTLS = ["fs.file-nr", "net.netfilter.nf_conntrack_count"]  # change while we read them


def _needs(client: str):
    return pytest.mark.skipif(shutil.which(client) is None, reason=f"needs {client}")


# -- this host -------------------------------------------------------------------------------------

def _proc_cgroups_memory() -> list[str]:
    """The memory line of this host's /proc/cgroups: name, hierarchy, num_cgroups, enabled."""
    return next(line.split() for line in Path("/proc/cgroups").read_text().splitlines()
                if line.startswith("memory\t"))


def _memory_cgroups() -> tuple[int, int]:
    """(/proc/cgroups memory num_cgroups, live memory cgroup directories) on this host."""
    root = "/sys/fs/cgroup/memory" if os.path.isdir("/sys/fs/cgroup/memory") else "/sys/fs/cgroup"
    return int(_proc_cgroups_memory()[2]), sum(1 for _ in os.walk(root))


@dataclass
class LocalGathering:
    facts: NodeFacts
    kubelet: subprocess.Popen
    kubelet_path: str
    before: dict  # readings of the host taken right before and right after gathering: values
    after: dict   # that move on their own (cgroup counts, free space) must fall between them


def _readings() -> dict:
    return {"memory_cgroups": _memory_cgroups(), "root": os.statvfs("/")}


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[LocalGathering]:
    # A process named kubelet with the nofile limits a badly configured node would give it.
    path = tmp_path_factory.mktemp("bin") / "kubelet"
    shutil.copy("/bin/sleep", path)
    kubelet = subprocess.Popen(
        [str(path), "300"],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1000, 2000)))
    try:
        before = _readings()
        facts = NodeFacts(gather.gather(transport.open_host("local://"), "local"))
        yield LocalGathering(facts, kubelet, str(path), before, _readings())
    finally:
        kubelet.kill()
        kubelet.wait()


def test_local_kernel_os_and_hostname(local):
    release = os.uname().release
    assert local.facts.kernel_release == release
    assert local.facts.kernel_version == tuple(int(n) for n in release.split("-")[0].split(".")[:3])
    assert local.facts.hostname == socket.gethostname()
    os_release = platform.freedesktop_os_release()
    assert {k: local.facts.os_release.get(k) for k in ("ID", "VERSION_ID", "PRETTY_NAME")} == \
        {k: os_release.get(k) for k in ("ID", "VERSION_ID", "PRETTY_NAME")}
    assert local.facts.kernel_cmdline_params.keys() <= set(
        word.partition("=")[0] for word in Path("/proc/cmdline").read_text().split())


def test_local_cgroups(local):
    cgroup = local.facts.cgroup
    assert cgroup["version"] == (2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1)
    assert cgroup["hybrid"] == (cgroup["version"] == 1 and os.path.ismount("/sys/fs/cgroup/unified"))
    memory = _proc_cgroups_memory()
    assert cgroup["controllers"]["memory"]["hierarchy"] == int(memory[1])
    assert cgroup["controllers"]["memory"]["enabled"] is (memory[3] == "1")
    (num_before, dirs_before), (num_after, dirs_after) = (local.before["memory_cgroups"],
                                                          local.after["memory_cgroups"])
    num_cgroups = cgroup["controllers"]["memory"]["num_cgroups"]

    def bracketed(value: int, before: int, after: int) -> bool:
        # Containers (a lab cluster's pods) come and go during the gather: counts are not monotone
        # between the two samples, so allow 5% of churn around them.
        slack = max(before, after) // 20 + 1
        return min(before, after) - slack <= value <= max(before, after) + slack

    assert bracketed(num_cgroups, num_before, num_after)
    assert bracketed(cgroup["memory_dirs"]["count"], dirs_before, dirs_after)
    stat = next(p for p in ("/sys/fs/cgroup/cgroup.stat", "/sys/fs/cgroup/unified/cgroup.stat")
                if os.path.exists(p))
    assert cgroup["stat"]["path"] == stat
    assert isinstance(cgroup["stat"]["nr_dying_descendants"], int)


def test_local_sysctls_equal_proc_sys(local):
    def proc_sys(key):
        path = Path("/proc/sys", key.replace(".", "/"))
        return " ".join(path.read_text().split()) if path.exists() else None

    for key in STATIC_SYSCTLS:
        assert local.facts.sysctl(key) == proc_sys(key), key
    for key in DYNAMIC_SYSCTLS:
        if proc_sys(key) is not None:
            assert all(isinstance(n, int) for n in local.facts.sysctl_ints(key)), key
    assert local.facts.sysctl_ints("net.ipv4.ip_local_port_range") == tuple(
        int(n) for n in proc_sys("net.ipv4.ip_local_port_range").split())
    assert local.facts.sockstat["TCP"].keys() >= {"inuse", "tw", "alloc"}


def test_local_free_space_agrees_with_statvfs(local):
    root = local.facts.filesystem("/")
    assert root["mount_point"] == "/"
    before, after = local.before["root"], local.after["root"]
    assert abs(root["size_bytes"] - before.f_blocks * before.f_frsize) < 1024 * 1024
    avail = sorted(s.f_bavail * s.f_frsize for s in (before, after))
    slack = 16 * 1024 * 1024  # what other processes may write or free between the readings
    assert avail[0] - slack <= root["avail_bytes"] <= avail[1] + slack
    assert root["inodes_total"] == before.f_files
    assert abs(root["inodes_free"] - before.f_ffree) < 10_000


def test_local_process_limits_read_back_exactly(local):
    (kubelet,) = [p for p in local.facts.process("kubelet") if p["pid"] == local.kubelet.pid]
    assert kubelet["node_pid_namespace"] is True
    assert kubelet["nofile"] == {"soft": 1000, "hard": 2000}
    assert kubelet["argv"] == [local.kubelet_path, "300"]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    assert kubelet["nproc"] == {"soft": None if nproc[0] == resource.RLIM_INFINITY else nproc[0],
                                "hard": None if nproc[1] == resource.RLIM_INFINITY else nproc[1]}
    # Under xdist the other worker's stand-in runs too; a node container's kubelet never counts.
    assert local.facts.kubelet["pid"] in {p["pid"] for p in local.facts.process("kubelet")
                                          if p["node_pid_namespace"]}
    assert local.facts.kubelet["config_path"] == "/var/lib/kubelet/config.yaml"  # the default


@_needs("docker")
def test_local_runtime_units_and_systemd_defaults(local):
    dirs = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
            "/lib/systemd/system")
    files = [p for d in dirs for u in ("containerd", "docker", "crio")
             for p in (f"{d}/{u}.service", *glob.glob(f"{d}/{u}.service.d/*.conf")) if os.path.isfile(p)]
    files += [p for p in ("/etc/systemd/system.conf", *glob.glob("/etc/systemd/system.conf.d/*.conf"),
                          *(q for d in dirs[1:] for q in glob.glob(f"{d.removesuffix('/system')}/system.conf.d/*.conf")))
              if os.path.isfile(p)]
    units = local.facts.systemd_units
    assert sorted(units) == sorted(files)
    for path in files:  # every LimitNOFILE= and DefaultLimitNOFILE= assignment, in order
        for key, section in (("LimitNOFILE", "Service"), ("DefaultLimitNOFILE", "Manager")):
            assigned = re.findall(rf"^\s*{key}=(.*)$", Path(path).read_text(), re.M)
            assert units[path].get(section, {}).get(key, []) == [v.strip() for v in assigned]


def test_local_docker_runtime_matches_docker_info(local):
    driver = subprocess.run(["docker", "info", "--format", "{{.Driver}} {{.CgroupDriver}}"],
                            capture_output=True, text=True, timeout=30)
    if driver.returncode != 0:
        pytest.skip("the Docker engine is not running")
    info = local.facts.runtime["docker"]["info"]
    assert f"{info['Driver']} {info['CgroupDriver']}" == driver.stdout.strip()
    assert info["Driver"] in local.facts.runtime["docker"]["root_entries"]


@pytest.fixture
def kubepods_memory_cgroup() -> Iterator[Path]:
    memory = Path("/sys/fs/cgroup/memory")
    if not memory.is_dir():
        pytest.skip("needs the cgroup v1 memory hierarchy")
    if (memory / "kubepods").exists():
        pytest.skip("this host has a real kubepods cgroup: not touching it")
    (memory / "kubepods").mkdir()
    try:
        yield memory / "kubepods"
    finally:
        (memory / "kubepods").rmdir()


def test_local_kmem_signals_of_the_kubepods_cgroup(kubepods_memory_cgroup):
    facts = NodeFacts(gather.gather(transport.open_host("local://"), "local"))
    kmem = facts.cgroup["kmem"][str(kubepods_memory_cgroup)]

    def read(name):
        path = kubepods_memory_cgroup / f"memory.kmem.{name}"
        return path.read_bytes() if path.exists() else None

    for name in ("usage_in_bytes", "limit_in_bytes"):
        assert kmem[name] == (int(read(name)) if read(name) is not None else None), name
    slabinfo = read("slabinfo")
    if slabinfo is None:
        assert kmem["slabinfo"]["exists"] is False
    else:  # readable, and empty on current kernels (docs/lab.md): not the field reports' leak sign
        assert kmem["slabinfo"] == {"exists": True, "bytes": len(slabinfo), "rc": 0, "error": None}


@pytest.mark.parametrize("shell", [["dash"], pytest.param(["busybox", "sh"], marks=_needs("busybox"))])
def test_gather_script_runs_under_plain_posix_shells(shell, local):
    assert gather.SCRIPT.isascii()  # else testinfra asks the node for its locale: more round trips
    facts = gather.parse(subprocess.run([*shell, "-c", gather.SCRIPT], capture_output=True, text=True,
                                        check=True, timeout=30).stdout)
    # Every section exits as it does under the host's /bin/sh, and parses to the same facts.
    assert {name: section["rc"] for name, section in facts["raw"].items()} == \
        {name: section["rc"] for name, section in local.facts.as_dict()["raw"].items()}
    assert facts["kernel"] == local.facts.as_dict()["kernel"]
    assert {k: facts["sysctl"].get(k) for k in STATIC_SYSCTLS} == \
        {k: local.facts.sysctl(k) for k in STATIC_SYSCTLS}


def _dropin_tree(root: Path) -> Path:
    """A --config-dir as an operator leaves it: drop-ins, a subdirectory, a file the kubelet skips."""
    conf_d = root / "kubelet.conf.d"
    (conf_d / "20-site").mkdir(parents=True)
    (conf_d / "10-eviction.conf").write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                                              "evictionHard:\n  memory.available: 500Mi\n")
    (conf_d / "20-site" / "auth.conf").write_text("apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                   "kind: KubeletConfiguration\ntoken: hunter2-dropin-secret\n")
    (conf_d / "README").write_text("not a drop-in: no .conf suffix\n")
    return conf_d


def test_gather_reads_the_running_kubelets_config_and_dropins(tmp_path):
    conf_d = _dropin_tree(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n")
    script = tmp_path / "kubelet"  # comm "kubelet"; --config=FILE and --config-dir DIR: both flag forms
    script.write_text("#!/bin/sh\nsleep 300\n")
    script.chmod(0o755)
    kubelet = subprocess.Popen([str(script), f"--config={config}", "--config-dir", str(conf_d)])
    try:
        deadline = time.monotonic() + 10
        while f"--config-dir" not in Path(f"/proc/{kubelet.pid}/cmdline").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        facts = gather.parse(subprocess.run(["dash", "-c", gather.SCRIPT], capture_output=True, text=True,
                                            check=True, timeout=60).stdout)
    finally:
        kubelet.kill()
        kubelet.wait()
    assert facts["kubelet"]["dropins"] == {
        f"{conf_d}/10-eviction.conf": {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                                       "evictionHard": {"memory.available": "500Mi"}},
        f"{conf_d}/20-site/auth.conf": {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                                        "token": "<redacted>"}}
    assert "hunter2" not in facts["raw"]["kubelet-config-dir"]["output"]
    assert f"@@kubeproof-item {config}\n" in facts["raw"]["kubelet-config"]["output"]


def test_gather_reads_the_flag_files_dropins_while_the_kubelet_is_down(tmp_path):
    conf_d = _dropin_tree(tmp_path)
    flags = tmp_path / "kubeadm-flags.env"
    flags.write_text(f'KUBELET_KUBEADM_ARGS="--node-ip=10.0.0.2 --config-dir={conf_d} --v=2"\n')
    # This host's daemons stay out of it (no kubelet runs), the flag files are the temporary one.
    script = gather.SCRIPT.replace("DAEMON_PIDS=$(find_daemons)", "DAEMON_PIDS=")
    script, found = re.subn(r"KUBELET_FLAG_FILES='[^']*'", f"KUBELET_FLAG_FILES='{flags}'", script)
    assert found == 1
    facts = gather.parse(subprocess.run(["dash", "-c", script], capture_output=True, text=True, check=True,
                                        timeout=60).stdout)
    assert sorted(facts["kubelet"]["dropins"]) == [f"{conf_d}/10-eviction.conf", f"{conf_d}/20-site/auth.conf"]
    assert facts["kubelet"]["configured_flags"][str(flags)]["config-dir"] == [str(conf_d)]


# -- a node container with planted flaws -----------------------------------------------------------

KUBELET_ARGS = ["--config=/var/lib/kubelet/config.yaml", "--hostname-override", "node-a",
                "--node-labels=zone=a", "--node-labels=disk=ssd"]
KUBELET_CONFIG = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                  "cgroupDriver": "systemd", "rotateCertificates": False, "evictionHard": {}}
# GNU sleep rejects --config=..., so the stand-in kubelet is a script: its comm is the script's
# name, its argv ["/bin/sh", "/usr/local/bin/kubelet", flags...].
FAKE_KUBELET = '#!/bin/sh\n[ "$1" = --version ] && exec echo "Kubernetes v1.32.4"\nsleep infinity &\nwait\n'
KUBEADM_FLAGS = ('KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock'
                 ' --pod-infra-container-image=registry.k8s.io/pause:3.9"\n')
APISERVER_MANIFEST = {"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "kube-apiserver", "namespace": "kube-system"},
                      "spec": {"containers": [{"name": "kube-apiserver", "command": [
                          "kube-apiserver", "--anonymous-auth=false", "--insecure-port=0",
                          "--authentication-config=/etc/kubernetes/authentication-config.yaml"]}]}}
AUTHENTICATION_CONFIG = {"apiVersion": "apiserver.config.k8s.io/v1beta1", "kind": "AuthenticationConfiguration",
                         "anonymous": {"enabled": True, "conditions": [{"path": "/livez"}, {"path": "/readyz"}]}}
# The field reports' storage flaw, and registry credentials that must not leave the node.
DAEMON_JSON = {"storage-driver": "devicemapper", "log-driver": "json-file"}
CONTAINERD_CONFIG = """version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.example".auth]
  username = "robot"
  password = "hunter2-registry-secret"
"""
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _mint(cn: str, *, days: int = 365, **kwargs):
    """(certificate, key) valid from a day ago for days; kwargs: kubeadm_pki.mint's issuer, ca, sans, usage."""
    return kubeadm_pki.mint(cn, not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=days),
                            **kwargs)


@dataclass
class PlantedNode:
    name: str
    facts: NodeFacts
    file_certs: dict[str, x509.Certificate]  # path on the node -> the certificate planted there
    kubeconfig_certs: dict[str, x509.Certificate]  # admin.conf's field -> its certificate
    keys: list[bytes]  # every private key written on the node, PEM


def _plant_pki(name: str) -> tuple[dict, dict, list[bytes]]:
    ca, ca_key = _mint("kubernetes", ca=True, days=3650)
    apiserver, apiserver_key = _mint("kube-apiserver", issuer=(ca, ca_key), days=30, usage="server",
                                     sans=("kubernetes", "kubernetes.default", "10.96.0.1"))
    etcd_ca, etcd_ca_key = _mint("etcd-ca", ca=True, days=3650)
    admin, admin_key = _mint("kubernetes-admin", issuer=(ca, ca_key), days=2, usage="client")  # about to expire
    kubelet, kubelet_key = _mint("system:node:node-a", issuer=(ca, ca_key), usage="client")
    kubeconfig = {"apiVersion": "v1", "kind": "Config",
                  "clusters": [{"name": "k", "cluster": {
                      "server": "https://10.0.0.1:6443",
                      "certificate-authority-data": base64.b64encode(pem(ca)).decode()}}],
                  "users": [{"name": "admin", "user": {
                      "client-certificate-data": base64.b64encode(pem(admin)).decode(),
                      "client-key-data": base64.b64encode(key_pem(admin_key)).decode()}}]}
    # k3s (Rancher's embedded one in 004): its server CA and the kubelet's client certificate.
    k3s_ca, k3s_ca_key = _mint("k3s-server-ca", ca=True, days=3650)
    k3s_kubelet, _ = _mint("system:node:node-a", issuer=(k3s_ca, k3s_ca_key), usage="client")
    file_certs = {"/etc/kubernetes/pki/ca.crt": ca, "/etc/kubernetes/pki/apiserver.crt": apiserver,
                  "/etc/kubernetes/pki/etcd/ca.crt": etcd_ca,
                  "/var/lib/kubelet/pki/kubelet-client-current.pem": kubelet,
                  "/var/lib/rancher/k3s/server/tls/server-ca.crt": k3s_ca,
                  "/var/lib/rancher/k3s/agent/client-kubelet.crt": k3s_kubelet}
    files = {path: pem(cert) for path, cert in file_certs.items()}
    # An image's CA bundle deep in k3s' containerd store: not the node's PKI, never read.
    files["/var/lib/rancher/k3s/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/etc/ssl/"
          "certs/image-ca.pem"] = pem(etcd_ca)
    files["/var/lib/rancher/k3s/server/tls/server-ca.key"] = key_pem(k3s_ca_key)
    files.update({
        "/etc/kubernetes/pki/ca.key": key_pem(ca_key),
        "/etc/kubernetes/pki/apiserver.key": key_pem(apiserver_key),
        "/etc/kubernetes/admin.conf": yaml.safe_dump(kubeconfig).encode(),
        # kubelet's rotated client certificate: certificate and key in one file.
        "/var/lib/kubelet/pki/kubelet-client-current.pem": pem(kubelet) + key_pem(kubelet_key),
        # A certificate cut short with a key right after it: the key must not ride out with it.
        "/etc/kubernetes/pki/truncated.crt": b"".join(pem(apiserver).splitlines(True)[:3])
        + key_pem(apiserver_key),
    })
    for path, data in files.items():
        node_containers.put_file(name, path, data, 0o600)
    keys = [key_pem(k) for k in (ca_key, apiserver_key, etcd_ca_key, admin_key, kubelet_key, k3s_ca_key)]
    return file_certs, {"certificate-authority-data": ca, "client-certificate-data": admin}, keys


def _wait_for_process(name: str, comm: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while node_containers.docker("exec", name, "sh", "-c", f"cat /proc/[0-9]*/comm | grep -qx {comm}",
                           check=False).returncode != 0:
        assert time.monotonic() < deadline, f"{comm} did not start in {name}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def planted(node_container: Callable[..., str]) -> PlantedNode:
    name = node_container("--ulimit", "nofile=1024:1024", "--hostname", "kp-node-a")
    node_containers.put_file(name, "/var/lib/kubelet/config.yaml", yaml.safe_dump(KUBELET_CONFIG))
    node_containers.put_file(name, "/var/lib/kubelet/kubeadm-flags.env", KUBEADM_FLAGS)
    node_containers.put_file(name, "/usr/local/bin/kubelet", FAKE_KUBELET, 0o755)
    node_containers.put_file(name, "/etc/docker/daemon.json", json.dumps(DAEMON_JSON))
    node_containers.put_file(name, "/etc/containerd/config.toml", CONTAINERD_CONFIG)
    file_certs, kubeconfig_certs, keys = _plant_pki(name)
    node_containers.docker("exec", "-d", name, "/usr/local/bin/kubelet", *KUBELET_ARGS)
    _wait_for_process(name, "kubelet")
    facts = NodeFacts(gather.gather(transport.open_host(f"docker://{name}"), name))
    return PlantedNode(name, facts, file_certs, kubeconfig_certs, keys)


def test_docker_node_kubelet_limits_flags_and_config(planted):
    (kubelet,) = planted.facts.process("kubelet")
    assert kubelet["node_pid_namespace"] is True
    assert kubelet["nofile"] == {"soft": 1024, "hard": 1024}
    assert kubelet["argv"] == ["/bin/sh", "/usr/local/bin/kubelet", *KUBELET_ARGS]
    assert planted.facts.kubelet_flags == {"config": ["/var/lib/kubelet/config.yaml"],
                                           "hostname-override": ["node-a"],
                                           "node-labels": ["zone=a", "disk=ssd"]}
    assert planted.facts.kubelet["hostname_override"] == "node-a"
    assert kubelet["flags"] == planted.facts.kubelet_flags  # parsed at gather time, for every daemon
    assert planted.facts.kubelet_version == (1, 32, 4)  # what `kubelet --version` answered
    assert planted.facts.kubelet_config == KUBELET_CONFIG
    assert planted.facts.kubelet["configured_flags"] == {"/var/lib/kubelet/kubeadm-flags.env": {
        "container-runtime-endpoint": ["unix:///run/containerd/containerd.sock"],
        "pod-infra-container-image": ["registry.k8s.io/pause:3.9"]}}
    assert planted.facts.hostname == "kp-node-a"
    assert planted.facts.systemd_version >= 252
    assert planted.facts.systemd_package.startswith("systemd-252")
    assert planted.facts.os_release["VERSION_ID"] == "12"


def test_docker_node_runtime_config_without_credentials(planted):
    runtime = planted.facts.runtime
    assert runtime["docker"] == {"info": None, "daemon_json": DAEMON_JSON, "root_entries": None}
    cri = runtime["containerd"]["config"]["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["containerd"]["snapshotter"] == "overlayfs"
    auth = cri["registry"]["configs"]["registry.example"]["auth"]
    assert auth == {"username": "robot", "password": "<redacted>"}
    assert "hunter2" not in json.dumps(planted.facts.as_dict())


def _describe(cert: x509.Certificate) -> dict:
    """What the facts must say of cert, computed here independently of gather.py."""
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x"),
            "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_docker_node_certificates_are_listed(planted):
    certs = planted.facts.certificates
    files = {c["path"]: c for c in certs if c["source"] == "file"}
    assert files.keys() == {*planted.file_certs, "/etc/kubernetes/pki/truncated.crt"}
    for path, cert in planted.file_certs.items():
        assert {k: files[path][k] for k in _describe(cert)} == _describe(cert), path
    assert files["/etc/kubernetes/pki/ca.crt"]["is_ca"] is True
    apiserver = files["/etc/kubernetes/pki/apiserver.crt"]
    assert apiserver["is_ca"] is False
    assert apiserver["sans"] == ["DNS:kubernetes", "DNS:kubernetes.default", "IP:10.96.0.1"]
    assert apiserver["extended_key_usage"] == ["serverAuth"]
    assert "error" in files["/etc/kubernetes/pki/truncated.crt"]  # unreadable is reported, not skipped
    kubeconfig = {c["field"]: c for c in certs if c["source"] == "kubeconfig"}
    assert {c["path"] for c in kubeconfig.values()} == {"/etc/kubernetes/admin.conf"}
    for field, cert in planted.kubeconfig_certs.items():
        assert {k: kubeconfig[field][k] for k in _describe(cert)} == _describe(cert), field


def test_docker_node_private_keys_never_leave_the_node(planted):
    everything = json.dumps(planted.facts.as_dict())
    assert "PRIVATE KEY" not in everything
    assert "client-key-data" not in everything
    for key in planted.keys:
        body = [line for line in key.decode().splitlines() if not line.startswith("-----")]
        assert not any(line in everything for line in body)
        assert base64.b64encode(key).decode()[:40] not in everything


def test_gather_under_chroot_sees_the_mounted_root(planted):
    # Like a probe pod with the host's root at /host: a tree where /etc/kubernetes/manifests
    # holds a manifest that the container's own root does not.
    script = ("mkdir -p /host /etc/kubernetes/manifests && mount --rbind / /host && "
              "mount -t tmpfs tmpfs /host/etc/kubernetes/manifests && cat > "
              "/host/etc/kubernetes/manifests/kube-apiserver.yaml")
    node_containers.docker("exec", "-i", planted.name, "sh", "-c", script,
                     input=yaml.safe_dump(APISERVER_MANIFEST).encode())
    node_containers.put_file(planted.name, "/host/etc/kubernetes/authentication-config.yaml",
                       yaml.safe_dump(AUTHENTICATION_CONFIG).encode())
    host = transport.open_host(f"docker://{planted.name}")
    chrooted = NodeFacts(gather.gather(host, planted.name, root="/host"))
    assert chrooted.static_pod("kube-apiserver.yaml") == APISERVER_MANIFEST
    # the file its --authentication-config names, read beside it
    assert chrooted.apiserver_auth_configs == {"/etc/kubernetes/authentication-config.yaml": AUTHENTICATION_CONFIG}
    assert NodeFacts(gather.gather(host, planted.name)).static_pods == {}
    assert chrooted.hostname == "kp-node-a"
    assert chrooted.process("kubelet")[0]["nofile"] == {"soft": 1024, "hard": 1024}


# -- failures of the transport ---------------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("docker://no-such-container", "docker exec: No such container: no-such-container"),
    pytest.param("ssh://127.0.0.1:1", "ssh: connect to host 127.0.0.1 port 1: Connection refused",
                 marks=_needs("ssh")),
    pytest.param("kubectl://no-such-pod?namespace=x&kubeconfig=/no/such/kubeconfig",
                 "kubectl exec: stat /no/such/kubeconfig: no such file or directory",
                 marks=_needs("kubectl")),
])
def test_unreachable_node_raises_with_a_one_line_reason(url, expected):
    with pytest.raises(NodeUnreachable) as caught:
        gather.gather(transport.open_host(url), "node-x", timeout=20)
    assert caught.value.node == "node-x"
    assert caught.value.reason == expected


def test_a_missing_root_is_reported_not_parsed():
    with pytest.raises(NodeUnreachable, match="gathering did not complete: chroot"):
        gather.gather(transport.open_host("local://"), "local", root="/no/such/root")


def test_the_deadline_kills_the_whole_command(tmp_path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(NodeUnreachable, match="no answer within 0.5 s"):
        transport.run(transport.open_host("local://"), f"sleep 30 & echo $! > {pid_file}; wait", 0.5)
    assert time.monotonic() - started < 5
    stat = Path(f"/proc/{pid_file.read_text().strip()}/stat")

    def killed():  # gone, or a zombie waiting for an init that does not reap (as on these machines)
        try:
            return stat.read_text().split()[2] == "Z"
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 5
    while not killed():  # SIGKILL lands asynchronously
        assert time.monotonic() < deadline, "the background sleep outlived the deadline"
        time.sleep(0.05)


def test_a_command_failing_on_the_node_is_not_a_transport_failure(planted):
    output = transport.run(transport.open_host(f"docker://{planted.name}"),
                           "echo out; echo Error: mine >&2; exit 3", 10)
    assert (output.rc, output.stdout, output.stderr) == (3, "out\n", "Error: mine\n")
