"""Every node judge on the node files production distributions really ship (issue 19 §1).

selftest/data/distros/<distribution>/node.yaml describes one node of that distribution:
- files/: the distribution's real files at their node paths (files/etc/kubernetes/kubelet/config.json
  is /etc/kubernetes/kubelet/config.json), each with its source in `sources` (repository, path,
  commit, or the code that writes it where the distribution generates the file);
- what runs: the kubelet (or the process its kubelet is embedded in) and the runtime, with the argv
  their units give them and the open-files limit the units set;
- flag_files: the kubelet's env files and units gather.sh shows as evidence; embedded_config_dirs and
  embedded_kubeconfigs: those of a kubelet embedded in another process (k3s), on no command line;
- state_dirs: the runtime's state directories gather.sh measures with df;
- mounts: which directories are separate filesystems (everything else is on the root's);
- pki: the certificates the distribution mints, by path (a kubelet kubeconfig's path: embedded in it as
  client-certificate-data), subject and lifetime (minted here: their keys
  are made per node, so no real node's file can be shipped);
- expect: the verdict of every node test, each justified in a comment from upstream code.

gather.sh's sections are built from those files exactly as gather.sh prints them, over the recording of
a healthy node (selftest/data/nodes/kubeadm-node.gather.txt) for what no distribution decides (kernel,
sysctls, sockets, systemd), with cgroup v2 as every distribution named here boots by default, and
parsed by the real parser. A test whose verdict is not listed must pass; a listed one must end as listed
(fail with each fragment among its problems, or skip with the fragment in its reason).
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from kubeproof import gather_sh, profile as profiles
from kubeproof.judge.node import (cgroups, certs, eviction, hostname, limits, runtime, static_pods, sysctls,
                                  systemd)
from kubeproof.nodes import gather
from kubeproof.nodes.facts import NodeFacts
from selftest.support import kubeadm_pki
from selftest.support.paths import DATA, REPO

NODES = sorted((DATA / "distros").glob("*/node.yaml"))
PROFILE = profiles.load()

# tests_node's assertions, by test name, as they call their judges (the history tests read logs,
# which no distribution ships).
TESTS = {
    "test_apiserver_probes_pass_its_authentication": lambda f: static_pods.apiserver_probe_and_auth(f),
    "test_certificates_valid_past_the_horizon": lambda f: certs.horizon(f, PROFILE.cert_horizon_days),
    "test_kubelet_rotates_its_client_certificate": lambda f: certs.rotation(f),
    "test_cluster_signing_duration_is_bounded":
        lambda f: static_pods.signing_duration(f, PROFILE.cert_signing_max_days),
    "test_etcd_and_the_front_proxy_keep_their_own_cas": lambda f: certs.ca_separation(f),
    "test_kernel_cannot_leak_memory_cgroups_through_kmem": lambda f: cgroups.kmem_leak(f),
    "test_memory_cgroup_ids_have_headroom": lambda f: cgroups.id_headroom(f, PROFILE.memory_cgroups_max_percent),
    "test_dying_memory_cgroups_do_not_accumulate": lambda f: cgroups.dying_accumulation(f, PROFILE.dying_cgroups_max),
    "test_kubelet_runs_on_cgroup_v2": lambda f: cgroups.kubelet_cgroup_v2(f),
    "test_container_storage_is_no_fallback_driver": lambda f: runtime.storage_driver(f),
    "test_free_space_above_eviction_thresholds": lambda f: eviction.free_space(f, PROFILE.eviction_margin_percent),
    "test_no_eviction_signal_is_disabled": lambda f: eviction.in_effect(f),
    "test_hostname_matches_the_registered_node_name":
        lambda f: hostname.drift(f, node_object_name=f.as_dict()["registered"], access="pod"),
    "test_node_daemons_open_file_limits": lambda f: limits.daemon_nofile(f, PROFILE.nofile_min),
    "test_system_file_table": lambda f: limits.file_max(f, PROFILE.file_max_min, PROFILE.socket_table_max_percent),
    "test_socket_tables_have_headroom": lambda f: limits.socket_tables(f, PROFILE.socket_table_max_percent),
    "test_kernel_tunables_meet_what_the_node_runs":
        lambda f: sysctls.tunables(f, PROFILE.sysctl_min, PROFILE.local_port_range_min, [],
                                   PROFILE.ingress_sysctl_min, PROFILE.ingress_local_port_range_min),
    "test_systemd_is_not_a_known_bad_build": lambda f: systemd.known_bad_build(f),
}
# The sections a node's files and processes replace, and the gather.sh paths each reads.
RUNTIME_CONFIGS = ("/etc/docker/daemon.json", "/etc/containerd/config.toml", "/etc/containers/storage.conf",
                   "/etc/crio/crio.conf")
DISK = {"device": "/dev/root", "size_kib": 104_857_600, "used_kib": 31_457_280, "inodes": 6_553_600,
        "iused": 400_000}


def _section(text: str, name: str, output: str, rc: int = 0) -> str:
    block = f"@@kubeproof-section {name}\n{output.rstrip(chr(10))}\n@@kubeproof-end {name} rc={rc}"
    text, found = re.subn(rf"@@kubeproof-section {name}\n.*?\n@@kubeproof-end {name} rc=\d+", lambda _: block,
                          text, flags=re.S)
    return text if found else text.replace("@@kubeproof-gather-end", f"{block}\n@@kubeproof-gather-end")


def _items(pairs: dict[str, str]) -> tuple[str, int]:
    """gather.sh's emit: one item per file, rc 1 when there is none."""
    return "".join(f"@@kubeproof-item {path}\n{body.rstrip(chr(10))}\n\n" for path, body in pairs.items()), \
        0 if pairs else 1


def _process(pid: int, spec: dict) -> str:
    soft, hard = spec["nofile"]
    return "".join([f"{pid} comm {spec['comm']}\n", f"{pid} pidns node\n",
                    *(f"{pid} argv {a}\n" for a in spec["argv"]),
                    f"{pid} limit Max open files            {soft}                {hard}                files\n"])


def _dirs(name: str) -> list[str]:
    return re.search(rf"^{name}='([^']*)'", gather_sh.TEXT, re.M)[1].split()


def _read_by_gather(path: str) -> bool:
    """Whether gather.sh's certificates section finds path: anywhere under PKI_DIRS, directly in AGENT_PKI_DIRS."""
    folder = path.rpartition("/")[0]
    return any(path.startswith(d + "/") for d in _dirs("PKI_DIRS")) or folder in _dirs("AGENT_PKI_DIRS")


def _df(path: str, mounts: dict[str, str]) -> str:
    mount = max((m for m in ["/", *mounts] if path == m or path.startswith(m.rstrip("/") + "/")), key=len)
    device = mounts.get(mount, DISK["device"])
    free = DISK["size_kib"] - DISK["used_kib"]
    return (f"Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
            f"{device} {DISK['size_kib']} {DISK['used_kib']} {free} 30% {mount}\n"
            f"Filesystem       Inodes  IUsed    IFree IUse% Mounted on\n"
            f"{device} {DISK['inodes']} {DISK['iused']} {DISK['inodes'] - DISK['iused']} 7% {mount}")


def _pki(specs: list[dict], now: datetime) -> dict[str, str]:
    """The certificates the distribution mints, {path: PEM}, issued 30 days before now."""
    minted, files = {}, {}
    for spec in specs:
        start = now - timedelta(days=30)
        cert, key = kubeadm_pki.mint(spec["cn"], org=spec.get("org"), not_before=start,
                                     not_after=start + timedelta(days=spec["days"]), ca=spec.get("ca", False),
                                     usage=spec.get("usage"), issuer=minted.get(spec.get("issuer")))
        minted[spec["path"]] = (cert, key)
        files[spec["path"]] = kubeadm_pki.pem(cert).decode()
    return files


def node_facts(spec_path: Path) -> NodeFacts:
    spec = yaml.safe_load(spec_path.read_text())
    root = spec_path.parent / "files"
    files = {"/" + str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}
    text = (DATA / "nodes" / "kubeadm-node.gather.txt").read_text()
    now = datetime.fromisoformat(gather.parse(text)["node_time"].replace("Z", "+00:00"))
    kubelet, runtimes = spec["kubelet"], spec.get("processes", [])
    flags = gather.parse_flags(kubelet["argv"][1:])
    # A kubelet embedded in another process (k3s) has its --config-dir and --kubeconfig on no command line.
    config_dirs = flags.get("config-dir", []) + spec.get("embedded_config_dirs", [])
    kubeconfigs = (flags.get("kubeconfig", []) + flags.get("bootstrap-kubeconfig", [])
                   + spec.get("embedded_kubeconfigs", []))
    mounts = spec.get("mounts", {})
    disk_paths = sorted({"/", "/var/lib/kubelet", *spec.get("state_dirs", [])})
    pki = _pki(spec.get("pki", []), now)
    sections = {
        "cgroup-mounts": ("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0", 0),
        "processes": ("".join(_process(100 + i, p) for i, p in enumerate([kubelet, *runtimes])), 0),
        "kubelet-version": (spec["version"], 0),
        "kubelet-config": _items({p: files[p] for p in flags.get("config", []) if p in files}),
        "kubelet-config-dir": _items({p: body for p, body in files.items() for d in config_dirs
                                      if p.startswith(d.rstrip("/") + "/") and p.endswith(".conf")}),
        "kubelet-kubeconfig": _items({p: _users(files[p]) for p in sorted(set(kubeconfigs)) if p in files}),
        "kubelet-env": _items({p: files[p] for p in spec.get("flag_files", [])}),
        "runtime-config": _items({p: files[p] for p in RUNTIME_CONFIGS if p in files}),
        "docker-info": ("", 127),
        "docker-root": ("", 1),
        "containerd-snapshots": ("", 0),
        "df": ("".join(f"@@kubeproof-item {p}\n{_df(p, mounts)}\n\n" for p in disk_paths), 0),
        "certificates": _items({p: c for p, c in pki.items() if p not in kubeconfigs and _read_by_gather(p)}),
        # kubeconfig_certificates' grep -H lines: a certificate minted into a kubeconfig is embedded there.
        "kubeconfig-certificates": ("".join(f"{p}:    client-certificate-data: {base64.b64encode(c.encode()).decode()}"
                                            "\n" for p, c in pki.items() if p in kubeconfigs), 0),
        "static-pods": ("", 1),
    }
    for name, (output, rc) in sections.items():
        text = _section(text, name, output, rc)
    text = re.sub(r"^/proc/sys/kernel/hostname:.*$", f"/proc/sys/kernel/hostname:{spec['hostname']}", text, flags=re.M)
    facts = gather.parse(text)
    facts.update(node="node-a", gathered_at=facts["node_time"], registered=spec["registered"])
    return NodeFacts(facts)


def _users(kubeconfig: str) -> str:
    """What gather.sh's kubeconfig_users prints of a kubeconfig: its users' names, certificate paths
    and exec commands, and the other credential keys as present."""
    out = []
    for user in yaml.safe_load(kubeconfig).get("users") or []:
        out.append(f"- name: {user['name']}")
        for key, value in (user.get("user") or {}).items():
            shown = value if key in ("client-certificate", "client-key", "tokenFile") else "<present>"
            out.append(f"    {key}: {shown}")
            if key == "exec":
                out.append(f"      command: {value['command']}")
    return "\n".join(out)


@pytest.mark.parametrize("spec_path", NODES, ids=[p.parent.name for p in NODES])
def test_distribution_verdicts(spec_path: Path) -> None:
    spec = yaml.safe_load(spec_path.read_text())
    root = spec_path.parent / "files"
    shipped = {"/" + str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert sorted(shipped - set(spec["sources"])) == [], "every real file names its source"
    expect = spec.get("expect") or {}
    assert sorted(set(expect) - set(TESTS)) == [], "expectations name tests_node's tests"
    facts = node_facts(spec_path)
    assert facts.as_dict()["parse_errors"] == {}
    minted = {c["path"] for c in spec.get("pki", [])}
    assert sorted(minted - {c["path"] for c in facts.certificates}) == [], "gather.sh reads every certificate minted"
    for name, judge in TESTS.items():
        judgement, want = judge(facts), expect.get(name, "pass")
        got = ("skip" if judgement.skip else "fail" if judgement.problems else "pass")
        if want == "pass":
            assert got == "pass", (name, judgement)
        elif "fail" in want:
            assert got == "fail" and len(judgement.problems) == len(want["fail"]), (name, judgement)
            for fragment in want["fail"]:
                assert any(fragment in p for p in judgement.problems), (name, fragment, judgement.problems)
        else:
            assert got == "skip" and want["skip"] in judgement.skip, (name, judgement)


def test_every_test_of_tests_node_is_judged_here() -> None:
    """A node test added to tests_node must get a verdict on every distribution (history tests aside)."""
    suites = REPO / "tests_node"
    defined = {m[1] for p in suites.glob("test_*.py") if p.name != "test_log_history.py"
               for m in re.finditer(r"^def (test_\w+)", p.read_text(), re.M)}
    assert defined == set(TESTS)
