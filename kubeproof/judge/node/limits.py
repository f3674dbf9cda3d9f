"""Open files and connection tables: the node daemons' nofile, fs.file-max, TIME_WAIT and conntrack.

001 §4: Ubuntu's default nofile of 1024 applied to calico-node; under many connections in TIME_WAIT
it ran out of descriptors and the nodes' container network and DNS died.
"""

from __future__ import annotations

from ...nodes.facts import NodeFacts
from ..judgement import Findings, Judgement

FAILURE_IDS = ("nofile-exhaustion", "node-sysctls")  # the catalog entries this module's judges decide

# The daemons whose descriptors the node's networking and pods depend on, by role.
NODE_DAEMONS = (
    ("kubelet", ("kubelet",)),
    ("container runtime", ("dockerd", "containerd", "crio")),
    ("kube-proxy", ("kube-proxy",)),
    ("CNI agent", ("calico-node", "felix", "bird", "flanneld", "cilium-agent", "weaver")),
)
# kube-proxy and the CNI agent run in pods: in PID namespaces of their own under the node's.
POD_ROLES = ("kube-proxy", "CNI agent")


def _daemons(facts: NodeFacts) -> tuple[list[tuple[str, dict]], list[str]]:
    """([(role, process)], [absent roles]) for the node's own daemons.

    Pod-run daemons in other PID namespaces count only on a node with its own kubelet: on a
    machine without one (a kind host, a dev box) they belong to the nodes it runs in containers.
    """
    own_kubelet = facts.kubelet_running  # a kubelet in the node's own PID namespace
    found, absent = [], []
    for role, names in NODE_DAEMONS:
        procs = [p for name in names for p in facts.process(name)
                 if p["node_pid_namespace"] or (role in POD_ROLES and own_kubelet)]
        found += [(role, p) for p in sorted(procs, key=lambda p: p["pid"])]
        if not procs:
            absent.append(f"{role} (none of {', '.join(names)} runs)")
    return found, absent


def daemon_nofile(facts: NodeFacts, minimum: int) -> Judgement:
    """Every node daemon can have at least minimum files open: its hard limit, the ceiling it may
    raise its soft limit to (Go daemons do so at start, Go >= 1.19), is at least minimum.

    The soft limit alone is no failure: containerd 2.x no longer sets LimitNOFILE, so it and the
    containers it starts run at systemd's default 1024:524288 and raise the soft limit as they need.
    001 §4's 1024:1024 left no room to raise: that is what fails here.
    """
    found = Findings(("processes",), facts)
    daemons, absent = _daemons(facts)
    found.judged.update(minimum=minimum, judged="the hard limit (the soft limit can be raised up to it)",
                        absent=absent,
                        daemons=[{"role": role, "comm": p["comm"], "pid": p["pid"], "nofile": p["nofile"],
                                  "node_pid_namespace": p["node_pid_namespace"]} for role, p in daemons])
    if not daemons:
        return found.nothing("none of the node daemons runs here: " + "; ".join(absent))
    for _, proc in daemons:
        soft, hard = proc["nofile"]["soft"], proc["nofile"]["hard"]  # None: unlimited
        if hard is not None and hard < minimum:
            found.problems.append(f"{proc['comm']} (pid {proc['pid']}) hard nofile {hard} < {minimum} minimum "
                                  f"(short by {minimum - hard}): its soft limit ({soft}) cannot be raised that far")
    return found.verdict()


def file_max(facts: NodeFacts, minimum: int, max_percent: float) -> Judgement:
    """The system-wide open-file table: files allocated (fs.file-nr) at most max_percent of fs.file-max,
    and fs.file-max at least minimum when the profile sets one."""
    found = Findings(("sysctl",), facts)
    value, in_use = facts.sysctl_ints("fs.file-max"), facts.sysctl_ints("fs.file-nr")
    found.judged.update({"fs.file-max": value and value[0], "fs.file-nr": in_use, "minimum": minimum,
                         "max_percent": max_percent})
    if value is None:
        return found.nothing("fs.file-max was not gathered")
    if value[0] < minimum:
        found.problems.append(f"fs.file-max {value[0]} < {minimum} minimum (short by {minimum - value[0]})")
    allowed = int(value[0] * max_percent / 100)
    if in_use and in_use[0] > allowed:
        found.problems.append(f"{in_use[0]} files allocated (fs.file-nr) = {100 * in_use[0] / value[0]:.0f}% of "
                              f"fs.file-max {value[0]} > {max_percent:g}% maximum ({allowed}; over by "
                              f"{in_use[0] - allowed})")
    return found.verdict()


def socket_tables(facts: NodeFacts, max_percent: float) -> Judgement:
    """TIME_WAIT sockets and conntrack entries use at most max_percent of their tables."""
    found = Findings(("sockstat", "sysctl"), facts)
    tables = {
        "TIME_WAIT sockets": ((facts.sockstat.get("TCP") or {}).get("tw"), "net.ipv4.tcp_max_tw_buckets"),
        "conntrack entries": (_first(facts.sysctl_ints("net.netfilter.nf_conntrack_count")),
                              "net.netfilter.nf_conntrack_max"),
    }
    found.judged.update(max_percent=max_percent, tables={}, absent=[])
    for what, (count, maximum_key) in tables.items():
        maximum = _first(facts.sysctl_ints(maximum_key))
        if count is None or not maximum:
            found.judged["absent"].append(f"{what}: count or {maximum_key} not on this node")
            continue
        allowed = int(maximum * max_percent / 100)
        found.judged["tables"][what] = {"count": count, "max": maximum, "allowed": allowed}
        if count > allowed:
            found.problems.append(f"{what} {count} = {100 * count / maximum:.0f}% of {maximum_key} "
                                  f"{maximum} > {max_percent:g}% maximum ({allowed}; over by {count - allowed})")
    if not found.judged["tables"]:
        return found.nothing("neither TIME_WAIT nor conntrack usage could be read: "
                             + "; ".join(found.judged["absent"]))
    return found.verdict()


def _first(values: tuple[int, ...] | None) -> int | None:
    return values[0] if values else None
