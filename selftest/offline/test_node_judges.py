"""The node judges (kubeproof/judge) on recorded gather.sh output: what no container here can be.

data/nodes holds gather.sh's output recorded from a healthy kubeadm-shaped node container and from
a dev host (see its README). Each case swaps one section for what the field reports show (a 3.13
kernel whose slabinfo reads, 002's 92% full disk, 001's --eviction-hard, 002's apiserver manifest)
and runs it through the real parser, so the judges see exactly what gathering would give them.
"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from selftest.support import flawed_nodes
from kubeproof.judge.node import (cgroups, certs, eviction, hostname, kubelet, limits, runtime, static_pods,
                                  sysctls, systemd)
from kubeproof.nodes.facts import NodeFacts
from selftest.support.recorded_node import node

KUBEPODS = "/sys/fs/cgroup/memory/kubepods"


def kernel(release: str, cmdline: str = "BOOT_IMAGE=/vmlinuz ro quiet") -> str:
    return (f"/proc/sys/kernel/osrelease:{release}\n/proc/sys/kernel/version:#1 SMP\n"
            f"/proc/sys/kernel/hostname:node-a\n/proc/cmdline:{cmdline}\n")


def item(path: str, text: str) -> str:
    return f"@@kubeproof-item {path}\n{text}\n"


def kubelet_config(**fields) -> str:
    return item("/var/lib/kubelet/config.yaml", yaml.safe_dump(
        {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", **fields}))


def df(path: str, device: str, kib: tuple[int, int, int], inodes: tuple[int, int, int]) -> str:
    (size, used, avail), (total, iused, ifree) = kib, inodes
    return item(path, f"Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                      f"{device} {size} {used} {avail} 92% {path}\n"
                      f"Filesystem Inodes IUsed IFree IUse% Mounted on\n{device} {total} {iused} {ifree} 5% {path}\n")


def process(pid: int, comm: str, argv: list[str], nofile: tuple[str, str], pidns: str = "node") -> str:
    lines = [f"{pid} comm {comm}", f"{pid} pidns {pidns}", *(f"{pid} argv {a}" for a in argv),
             f"{pid} limit Max open files            {nofile[0]:<20} {nofile[1]:<20} files"]
    return "\n".join(lines) + "\n"


# -- the recordings as they are --------------------------------------------------------------------

JUDGES = {
    "kmem": lambda f: cgroups.kmem_leak(f),
    "ids": lambda f: cgroups.id_headroom(f, 50),
    "dying": lambda f: cgroups.dying_accumulation(f, 1000),
    "horizon": lambda f: certs.horizon(f, 30),
    "rotation": lambda f: certs.rotation(f),
    "signing": lambda f: static_pods.signing_duration(f, 397),
    "storage": lambda f: runtime.storage_driver(f),
    "free": lambda f: eviction.free_space(f, 5),
    "in-effect": lambda f: eviction.in_effect(f),
    "nofile": lambda f: limits.daemon_nofile(f, 20000),
    "file-max": lambda f: limits.file_max(f, 1048576, 80),
    "sockets": lambda f: limits.socket_tables(f, 80),
    "hostname": lambda f: hostname.drift(f, node_object_name=None, access="docker://x"),
    "apiserver": lambda f: static_pods.apiserver_probe_and_auth(f),
    "systemd": lambda f: systemd.known_bad_build(f),
    "sysctls": lambda f: sysctls.tunables(f, {"net.core.somaxconn": 65535}, 64511, None, {}, 0),
}


@pytest.mark.parametrize("judge", JUDGES)
def test_the_healthy_node_recording_passes_every_judge(judge):
    judgement = JUDGES[judge](node())
    assert (judgement.skip, judgement.problems) == (None, [])
    assert judgement.raw and judgement.judged


def test_the_dev_host_is_judged_where_it_can_be_and_skipped_with_a_reason_elsewhere():
    host = node("dev-host")
    skipped = {name: j.skip for name, judge in JUDGES.items() if (j := judge(host)).skip}
    assert skipped.keys() == {"horizon", "rotation", "signing", "free", "in-effect", "hostname", "apiserver"}
    assert skipped["horizon"].startswith("no Kubernetes PKI on this node")
    assert skipped["free"].startswith("no kubelet on this node")
    assert skipped["apiserver"].startswith("not a control-plane node")
    # dockerd and docker's containerd run here: judged, the absent kubelet, kube-proxy, CNI said so
    nofile = limits.daemon_nofile(host, 20000)
    assert [d["comm"] for d in nofile.judged["daemons"]] == ["dockerd", "containerd"]
    assert [a.split(" (")[0] for a in nofile.judged["absent"]] == ["kubelet", "kube-proxy", "CNI agent"]
    assert runtime.storage_driver(host).judged["runtimes"][0]["drivers"] == ["overlay2"]


# -- cgroup-kmem-leak ------------------------------------------------------------------------------

READABLE_SLABINFO = f"{KUBEPODS}/memory.kmem.usage_in_bytes:8945664\n{KUBEPODS} slabinfo bytes=3412 rc=0 \n"
EIO_SLABINFO = (f"{KUBEPODS}/memory.kmem.usage_in_bytes:0\n{KUBEPODS} slabinfo bytes=0 rc=1 "
                f"cat: {KUBEPODS}/memory.kmem.slabinfo: Input/output error\n")


@pytest.mark.parametrize("release, cmdline, kmem, problem", [
    # 001 §1 and 000: Ubuntu 14.04's 3.13 with docker turning kmem accounting on
    ("3.13.0-32-generic", "ro quiet", READABLE_SLABINFO,
     "kernel 3.13.0-32-generic < 4.8 with kmem accounting live (/sys/fs/cgroup/memory/kubepods/memory.kmem"
     ".slabinfo readable (3412 bytes); /sys/fs/cgroup/memory/kubepods/memory.kmem.usage_in_bytes 8945664)"),
    # CentOS 7's 3.10 with a kmem limit set by runc: accounting active although nothing is charged yet
    ("3.10.0-957.el7.x86_64", "ro", f"{KUBEPODS}/memory.kmem.limit_in_bytes:9223372036854771712\n"
                                    f"{KUBEPODS}-burstable/memory.kmem.limit_in_bytes:1048576\n",
     "memory.kmem.limit_in_bytes 1048576 (a kmem limit activates accounting)"),
    # 4.4 with no pod cgroup to tell: a runc built without nokmem would turn it on
    ("4.4.0-142-generic", "ro", "", "kernel 4.4.0-142-generic < 4.8, no cgroup.memory=nokmem and no kubepods"),
    # 003's remedy applied: the report's "Input/output error" means accounting is off
    ("3.10.0-1160.el7.x86_64", "ro", EIO_SLABINFO, None),
    ("4.2.0-27-generic", "ro cgroup.memory=nokmem", READABLE_SLABINFO, None),
    # 001 §1's fix: 4.9; and current kernels, where slabinfo is readable (and empty) everywhere
    ("4.9.0-8-amd64", "ro", READABLE_SLABINFO, None),
    ("6.1.0-18-amd64", "ro", f"{KUBEPODS} slabinfo bytes=0 rc=0 \n", None),
])
def test_kmem_leak_is_judged_by_kernel_and_accounting(release, cmdline, kmem, problem):
    judgement = cgroups.kmem_leak(node(kernel=kernel(release, cmdline), kmem=kmem))
    assert len(judgement.problems) == (problem is not None), judgement.problems
    if problem:
        assert problem in judgement.problems[0]


def test_dying_cgroups_of_a_bound_subtree_are_not_guessed():
    # A container seeing only its own subtree: the host-wide num_cgroups would count as "dying".
    judgement = cgroups.dying_accumulation(node(kernel=kernel("4.4.0-142-generic"),
                                                memory_cgroup_dirs="/sys/fs/cgroup/memory 1 /docker/9688c0\n"), 1000)
    assert judgement.skip.endswith("(mount root /docker/9688c0)")


# -- cert-expiry -----------------------------------------------------------------------------------

def test_superseded_kubelet_rotations_are_history_not_failures():
    facts = node()
    old = [c for c in facts.certificates if re.search(r"kubelet-client-\d", c["path"])
           and c["not_after"] < facts.gathered_at]
    assert old, "the recording keeps an expired older rotation beside kubelet-client-current.pem"
    judgement = certs.horizon(facts, 30)
    assert judgement.problems == [] and old[0]["path"] in judgement.judged["superseded_not_judged"]
    # Without the current symlink the same file is the one in use, and fails.
    pki = facts.raw("certificates")["output"]
    without_current = re.sub(r"@@kubeproof-item /var/lib/kubelet/pki/kubelet-client-current.pem\n.*?"
                             r"-----END CERTIFICATE-----\n\n", "", pki, flags=re.S)
    problems = certs.horizon(node(certificates=without_current), 30).problems
    assert len(problems) == 1 and problems[0].startswith(old[0]["path"]) and " expired " in problems[0]


def test_a_certificate_in_several_places_is_one_problem_and_an_unreadable_one_is_a_problem():
    facts = node()
    horizon = 20 * 365  # every certificate expires within twenty years
    problems = certs.horizon(facts, horizon).problems
    ca = next(p for p in problems if "(CN=kubernetes)" in p)
    assert ca.startswith("/etc/kubernetes/pki/ca.crt, /etc/kubernetes/admin.conf (certificate-authority-data), ")
    broken = facts.raw("certificates")["output"].replace("MII", "XXX", 1)
    assert any("unreadable certificate" in p for p in certs.horizon(node(certificates=broken), 30).problems)


def test_rotation_flag_overrides_the_config():
    flagged = process(39, "kubelet", ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml",
                                      "--rotate-certificates=false"], ("20000", "20000"))
    judgement = certs.rotation(node(processes=flagged))
    assert judgement.problems[0].startswith("kubelet client certificate rotation is off: "
                                            "--rotate-certificates=false (the running kubelet's command line")
    unset = certs.rotation(node(kubelet_config=kubelet_config(cgroupDriver="systemd")))
    assert ("rotateCertificates unset in /var/lib/kubelet/config.yaml (the kubelet's default is false)"
            in unset.problems[0])


# -- nodefs-pressure ------------------------------------------------------------------------------

# 002: "/dev/sda1 5.8G 5.1G 448M 92% /", the kubelet's root dir on it; docker moved to /data/docker.
ROOT_92 = df("/", "/dev/sda1", (6048000, 5348000, 458752), (387072, 120000, 267072))
DATA_DISK = df("/data/docker", "/dev/sdb1", (103081248, 5452595, 97628653), (6553600, 90000, 6463600))


def test_002_full_root_partition_fails_the_default_threshold_plus_margin():
    facts = node(df=ROOT_92 + DATA_DISK + df("/var/lib/kubelet", "/dev/sda1", (6048000, 5348000, 458752),
                                               (387072, 120000, 267072)),
                 runtime_config=item("/etc/docker/daemon.json", '{"graph": "/data/docker", "storage-driver": "aufs"}'),
                 kubelet_config=kubelet_config(containerRuntimeEndpoint="unix:///var/run/dockershim.sock"),
                 processes=process(13640, "kubelet", ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"],
                                     ("1024", "4096"))
                 + process(900, "dockerd", ["/usr/bin/dockerd"], ("1048576", "1048576")))
    judgement = eviction.free_space(facts, 5)
    assert judgement.problems == [
        "nodefs /var/lib/kubelet (/dev/sda1 on /var/lib/kubelet): 448.0 MiB free (7.6%) < 885.9 MiB required by "
        "the kubelet's nodefs.available<10% plus the 5% margin (short by 437.9 MiB)"]
    assert "imagefs /data/docker" in judgement.judged["filesystems"]  # the report's data disk, judged and fine
    assert judgement.judged["thresholds"]["source"] == ("the kubelet's defaults (no evictionHard in "
                                                        "/var/lib/kubelet/config.yaml, no --eviction-hard)")


def test_quantity_and_inode_thresholds():
    facts = node(kubelet_config=kubelet_config(evictionHard={"nodefs.available": "1Gi", "nodefs.inodesFree": "100k",
                                                             "imagefs.available": "15%"}),
                 df=df("/var/lib/kubelet", "/dev/vdb", (10485760, 9227469, 1258291), (1000000, 880000, 120000))
                 + df("/var/lib/containerd", "/dev/vdc", (10485760, 0, 10485760), (1000000, 1, 999999)))
    assert eviction.free_space(facts, 5).problems == [
        "nodefs /var/lib/kubelet (/dev/vdb on /var/lib/kubelet): 1.2 GiB free (12.0%) < 1.5 GiB required by the "
        "kubelet's nodefs.available<1Gi plus the 5% margin (short by 307.2 MiB)",
        "nodefs /var/lib/kubelet (/dev/vdb on /var/lib/kubelet): 120,000 inodes free (12.0%) < 150,000 required by "
        "the kubelet's nodefs.inodesFree<100k plus the 5% margin (short by 30,000 inodes)"]


def test_an_eviction_flag_that_does_not_parse_is_a_problem():
    broken = node(processes=process(7, "kubelet", ["kubelet", "--eviction-hard=nodefs.available>10%"], ("1", "1")))
    assert eviction.free_space(broken, 5).problems == [
        "--eviction-hard: 'nodefs.available>10%' is not SIGNAL<VALUE: the kubelet refuses to start with it"]


# -- the kubelet's effective configuration (config file, drop-ins, flags) -------------------------

DROPINS = "/etc/kubernetes/kubelet.conf.d"
V1BETA1 = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}


def kubelet_node(*flags: str, version: str = "1.37.2", config: dict | None = None, **dropins: dict) -> NodeFacts:
    """A running kubelet with these flags, the config file at the kubeadm path, and drop-ins by name."""
    return node(kubelet_version=f"Kubernetes v{version}",
                processes=process(812, "kubelet", ["/usr/bin/kubelet", *flags], ("1048576", "1048576")),
                kubelet_config=kubelet_config(**config) if config is not None else "",
                kubelet_config_dir="".join(item(f"{DROPINS}/{name}", yaml.safe_dump(body))
                                           for name, body in dropins.items()))


def test_effective_config_of_kubeadms_config_file():
    facts = kubelet_node("--config=/var/lib/kubelet/config.yaml",
                         config={"cgroupDriver": "systemd", "rotateCertificates": True})
    config, sources = kubelet.effective_config(facts)
    assert {k: config[k] for k in ("evictionHard", "failCgroupV1", "cgroupDriver", "rotateCertificates",
                                   "serverTLSBootstrap", "protectKernelDefaults", "mergeDefaultEvictionSettings")} == {
        "evictionHard": kubelet.DEFAULT_EVICTION_HARD, "failCgroupV1": True, "cgroupDriver": "systemd",
        "rotateCertificates": True, "serverTLSBootstrap": False, "protectKernelDefaults": False,
        "mergeDefaultEvictionSettings": False}
    assert sources == "--config /var/lib/kubelet/config.yaml; flags: the running kubelet's command line (pid 812)"


@pytest.mark.parametrize("version, expected", [
    ("1.37.2", {}),  # loadConfigFile is the only place the defaults are filled in
    ("1.24.17", {k: v for k, v in kubelet.DEFAULT_EVICTION_HARD.items() if k != "imagefs.inodesFree"}),
])
def test_a_kubelet_without_config_file_gets_no_default_thresholds_since_1_25(version, expected):
    # The kubeadm path holds a file, but the kubelet is not told to read it.
    facts = kubelet_node("--kubeconfig=/etc/kubernetes/kubelet.conf", version=version, config={})
    assert kubelet.effective_config(facts)[0]["evictionHard"] == expected
    assert (eviction.hard_thresholds(facts).zeroed == ()) == bool(expected)


def test_dropins_merge_in_the_kubelets_walk_order_and_flags_win():
    facts = kubelet_node(
        "--config=/var/lib/kubelet/config.yaml", f"--config-dir={DROPINS}", "--rotate-certificates=false",
        config={"rotateCertificates": True, "evictionHard": {"memory.available": "1Gi"}, "clusterDNS": ["10.96.0.10"]},
        **{"20-disk.conf": {**V1BETA1, "evictionHard": {"nodefs.available": "0%"}},
           # filepath.WalkDir: the directory 20-disk sorts before the file 20-disk.conf, so this comes first
           "20-disk/restore.conf": {**V1BETA1, "evictionHard": {"nodefs.available": "10%"}},
           "10-dns.conf": {**V1BETA1, "clusterDNS": ["169.254.20.10"], "failCgroupV1": False,
                           "evictionHard": {"memory.available": None}},  # null removes the signal
           "30-notes.txt": {**V1BETA1, "protectKernelDefaults": True}})  # not *.conf: skipped
    config, sources = kubelet.effective_config(facts)
    assert config["evictionHard"] == {"nodefs.available": "0%"}
    thresholds = eviction.hard_thresholds(facts)  # what the eviction judges read is the same map
    assert {k: v for k, v in thresholds.values.items() if k not in thresholds.zeroed} == config["evictionHard"]
    assert config["clusterDNS"] == ["169.254.20.10"]  # lists are replaced
    assert (config["failCgroupV1"], config["rotateCertificates"], config["protectKernelDefaults"]) == (False, False, False)
    assert f"--config-dir {DROPINS}: {DROPINS}/10-dns.conf, {DROPINS}/20-disk/restore.conf, {DROPINS}/20-disk.conf" \
        in sources
    assert kubelet.resolve(facts).source("rotateCertificates") == \
        "--rotate-certificates=false (the running kubelet's command line (pid 812))"
    flagged = kubelet_node(f"--config-dir={DROPINS}", "--eviction-hard=memory.available<1Gi", "--fail-cgroupv1=f",
                           "--eviction-hard", "imagefs.available<20%",
                           **{"10.conf": {**V1BETA1, "evictionHard": {"nodefs.available": "10%"}}})
    assert kubelet.effective_config(flagged)[0]["evictionHard"] == {"memory.available": "1Gi",
                                                                    "imagefs.available": "20%"}
    assert kubelet.effective_config(flagged)[0]["failCgroupV1"] is False


def test_a_dropin_without_its_kind_stops_the_kubelet():
    facts = kubelet_node(f"--config-dir={DROPINS}", **{"10.conf": {"evictionHard": {"memory.available": "1Gi"}}})
    assert eviction.in_effect(facts).problems == [
        f"drop-in {DROPINS}/10.conf is not apiVersion kubelet.config.k8s.io/v1beta1, kind KubeletConfiguration "
        "(mergeKubeletConfigurations refuses it): the kubelet refuses to start with it"]


def test_dropins_of_a_stopped_kubelet_come_from_its_flag_files():
    facts = node(kubelet_version="Kubernetes v1.35.4", processes="",
                 kubelet_env=item("/var/lib/kubelet/kubeadm-flags.env",
                                  f'KUBELET_KUBEADM_ARGS="--config-dir={DROPINS} --node-ip=10.0.0.2"'),
                 kubelet_config_dir=item(f"{DROPINS}/10.conf", yaml.safe_dump({**V1BETA1, "cgroupDriver": "systemd"})))
    config, sources = kubelet.effective_config(facts)
    assert (config["cgroupDriver"], config["evictionHard"]) == ("systemd", {})
    assert sources.startswith("no --config file")


def test_facts_gathered_before_dropins_were_read_say_so():
    facts = kubelet_node("--config=/var/lib/kubelet/config.yaml", f"--config-dir={DROPINS}", config={}).as_dict()
    facts["kubelet"].pop("dropins")
    assert f"--config-dir {DROPINS} (its files were not gathered: not merged)" in \
        kubelet.effective_config(NodeFacts(facts))[1]


def test_cgroup_v1_under_a_1_35_kubelet_refusing_it():
    facts = kubelet_node("--config=/var/lib/kubelet/config.yaml", version="1.35.4", config={})
    assert cgroups.kubelet_cgroup_v2(facts).problems == [
        "kubelet 1.35.4 on cgroup v1 (hybrid, no cgroup2 at /sys/fs/cgroup) with failCgroupV1 unset in "
        "/var/lib/kubelet/config.yaml (the kubelet's default is true): the kubelet refuses to start: \"kubelet is "
        "configured to not run on a host using cgroup v1. cgroup v1 support is unsupported and will be removed in a "
        "future release\"; move the node to cgroup v2"]
    # Before 1.35 cgroup v1 is in maintenance, not refused: not this finding.
    assert cgroups.kubelet_cgroup_v2(kubelet_node(version="1.34.3", config={})).problems == []


# -- nofile-exhaustion -----------------------------------------------------------------------------

def test_unlimited_passes_and_nested_nodes_daemons_are_not_this_nodes():
    facts = node(processes=process(10, "dockerd", ["dockerd"], ("unlimited", "unlimited"))
                 + process(20, "kubelet", ["kubelet"], ("1024", "1024"), pidns="other")
                 + process(30, "calico-node", ["calico-node"], ("1024", "1024"), pidns="other"))
    judgement = limits.daemon_nofile(facts, 102400)
    assert judgement.problems == [] and [d["comm"] for d in judgement.judged["daemons"]] == ["dockerd"]
    # On a node with its own kubelet, the CNI agent in its pod's PID namespace is this node's.
    facts = node(processes=process(10, "kubelet", ["kubelet"], ("102400", "102400"))
                 + process(30, "calico-node", ["calico-node"], ("1024", "4096"), pidns="other"))
    assert limits.daemon_nofile(facts, 102400).problems == [
        "calico-node (pid 30) hard nofile 4096 < 102400 minimum (short by 98304): its soft limit (1024) cannot be "
        "raised that far"]


def test_conntrack_table_and_file_max():
    sysctl = ("net/netfilter/nf_conntrack_max:262144\nnet/netfilter/nf_conntrack_count:250000\n"
              "net/ipv4/tcp_max_tw_buckets:262144\nfs/file-max:65536\nfs/file-nr:2048 0 65536\n")
    facts = node(sysctl=sysctl)
    assert limits.socket_tables(facts, 80).problems == [
        "conntrack entries 250000 = 95% of net.netfilter.nf_conntrack_max 262144 > 80% maximum (209715; over by 40285)"]
    assert limits.file_max(facts, 1048576, 80).problems == ["fs.file-max 65536 < 1048576 minimum (short by 983040)"]
    crowded = node(sysctl="fs/file-max:65536\nfs/file-nr:60000 0 65536\n")
    assert limits.file_max(crowded, 0, 80).problems == [
        "60000 files allocated (fs.file-nr) = 92% of fs.file-max 65536 > 80% maximum (52428; over by 7572)"]


# -- hostname-drift --------------------------------------------------------------------------------

@pytest.mark.parametrize("node_object, access, problem", [
    (None, "docker://x", None),  # the kubelet certificate names the recorded hostname
    ("KP-Node-1", "ssh://10.0.0.5", "hostname {h} != registered node name KP-Node-1 (from the Kubernetes Node object)"),
])
def test_registered_name_prefers_the_node_object(node_object, access, problem):
    facts = node()
    judgement = hostname.drift(facts, node_object_name=node_object, access=access)
    assert judgement.problems == ([problem.format(h=facts.hostname) + ": the kubelet and calico would register "
                                   "it as a new node beside the old one"] if problem else [])


def test_hostname_override_and_case_are_the_kubelets():
    facts = node(kernel=kernel("6.1.0").replace("hostname:node-a", "hostname:Web-01"),
                 certificates="", kubeconfig_certificates="",
                 processes=process(9, "kubelet", ["kubelet", "--hostname-override=node-7"], ("1", "1")))
    assert hostname.drift(facts, node_object_name="node-7", access="ssh://node-7").problems == []
    plain = node(kernel=kernel("6.1.0").replace("hostname:node-a", "hostname:Web-01"),
                 certificates="", kubeconfig_certificates="")
    assert hostname.drift(plain, node_object_name=None, access="ssh://web-01").problems == []
    assert hostname.drift(plain, node_object_name=None, access="ssh://10.0.0.5").skip.startswith(
        "no registered name to compare the hostname with")
    assert hostname.drift(plain, node_object_name=None, access="local://").skip is not None


# -- storage-driver --------------------------------------------------------------------------------

@pytest.mark.parametrize("sections, problems", [
    # 001 §2's fix, -s overlay2 in DOCKER_OPTS, wins over a stale daemon.json
    ({"processes": process(1, "dockerd", ["/usr/bin/dockerd", "-s", "overlay2"], ("1", "1")),
      "runtime_config": item("/etc/docker/daemon.json", '{"storage-driver": "devicemapper"}')}, []),
    # 001 §2: after the kernel upgrade docker fell from aufs to devicemapper; both left their directories
    ({"docker_root": "aufs\ncontainers\ndevicemapper\nimage\n"},
     ["docker storage driver devicemapper (from the driver directories under /var/lib/docker) is a fallback driver "
      "(001 §2: it fills the disk); pin overlay2",
      "docker storage driver aufs (from the driver directories under /var/lib/docker) is a fallback driver "
      "(001 §2: it fills the disk); pin overlay2"]),
    ({"runtime_config": item("/etc/crio/crio.conf", '[crio]\nstorage_driver = "vfs"\n')},
     ["cri-o storage driver vfs (from /etc/crio/crio.conf storage_driver) is a fallback driver (001 §2: it fills "
      "the disk); pin overlay"]),
])
def test_storage_driver_sources(sections, problems):
    facts = node("dev-host", **{"processes": "", "docker_info": "", "docker_root": "", **sections})
    assert runtime.storage_driver(facts).problems == problems


@pytest.mark.parametrize("config, expected", [
    # kind v0.33's own config (version 2, images/base/files/etc/containerd/config.toml), read by containerd 2
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  discard_unpacked_layers = true\n'
     '  snapshotter = "overlayfs"\n  default_runtime_name = "runc"\n', [("overlayfs", "version 2")]),
    # below version.ConfigVersion (4) configMigration copies the grpc plugin's key over the images plugin's
    ('version = 3\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "devmapper"\n'
     "[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n", [("devmapper", "version 3")]),
    ('version = 4\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "devmapper"\n'
     "[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n", [("overlayfs", "version 4")]),
    ("version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.kata]\n  snapshotter = 'devmapper'\n",
     [("overlayfs", "containerd's default snapshotter"), ("devmapper", "runtime handler kata")]),
    ('[plugins.cri.containerd]\n  snapshotter = "aufs"\n', [("aufs", "version 1")]),  # containerd 1.x's first layout
])
def test_containerd_snapshotter_by_config_version(config, expected):
    found = runtime.containerd_snapshotters(tomllib.loads(config))
    assert [name for name, _ in found] == [name for name, _ in expected]
    assert all(fragment in where for (_, where), (_, fragment) in zip(found, expected)), found


# -- apiserver-anonymous-probe, signing duration ---------------------------------------------------

def manifests(**pods: dict) -> str:
    return "".join(item(f"/etc/kubernetes/manifests/{name}.yaml", yaml.safe_dump(pod)) for name, pod in pods.items())


def test_002_manifest_restart_loops_and_its_fix_opens_the_insecure_port():
    # 002, verbatim: failureThreshold 8, HTTPS /healthz on 6443 from 127.0.0.1
    report_probe = {"failureThreshold": 8, "initialDelaySeconds": 15, "timeoutSeconds": 15, "httpGet": {
        "host": "127.0.0.1", "path": "/healthz", "port": 6443, "scheme": "HTTPS"}}
    broken = flawed_nodes.apiserver(("--anonymous-auth=false",), livenessProbe=report_probe)
    problems = static_pods.apiserver_probe_and_auth(node(static_pods=manifests(**{"kube-apiserver": broken}))).problems
    assert len(problems) == 1 and "livenessProbe is an unauthenticated HTTPS GET /healthz on port 6443" in problems[0]
    assert "after 8 failures" in problems[0]
    insecure = ("--anonymous-auth=false", "--insecure-bind-address=127.0.0.1", "--insecure-port=8080")
    fixed = flawed_nodes.apiserver(insecure, startupProbe={}, livenessProbe={
        **report_probe, "httpGet": {**report_probe["httpGet"], "port": 8080, "scheme": "HTTP"}})
    problems = static_pods.apiserver_probe_and_auth(node(static_pods=manifests(**{"kube-apiserver": fixed}))).problems
    assert len(problems) == 1 and "--insecure-port=8080 serves the whole API" in problems[0]
    assert static_pods.apiserver_probe_and_auth(node(static_pods="")).skip.startswith("not a control-plane node")


def test_signing_duration_of_000():
    manager = flawed_nodes.controller_manager(("--experimental-cluster-signing-duration=87600h",))
    facts = node(static_pods=manifests(**{"kube-controller-manager": manager}))
    problems = static_pods.signing_duration(facts, 397).problems
    assert len(problems) == 1 and "signs certificates for 3650 days (limit 397)" in problems[0]


# -- pleg-unhealthy, node-sysctls ------------------------------------------------------------------

@pytest.mark.parametrize("package, bad", [
    ("systemd-219-62.el7_6.6.x86_64", True), ("systemd-219-62.el7_6.60.x86_64", False),
    ("systemd-219-62.el7_6.7.x86_64", False), ("systemd-252.22-1~deb12u1", False)])
def test_known_bad_systemd_build(package, bad):
    facts = node(systemd_package=package + "\n")
    assert bool(systemd.known_bad_build(facts).problems) is bad


def test_sysctls_absent_are_said_and_none_at_all_skips():
    minimums = {"net.core.somaxconn": 65535, "fs.inotify.max_user_watches": 524288}
    judgement = sysctls.tunables(node(sysctl="net/core/somaxconn:4096\n"), minimums, 64511, None, {}, 0)
    assert judgement.problems == ["net.core.somaxconn 4096 < 65535 minimum (short by 61439) for the profile's "
                                  "node-wide minimum"]
    assert judgement.judged["absent"] == ["fs.inotify.max_user_watches", "net.ipv4.ip_local_port_range"]
    assert sysctls.tunables(node(sysctl=""), {"net.core.somaxconn": 1}, 1, None, {}, 0).skip.startswith(
        "none of the sysctls")
