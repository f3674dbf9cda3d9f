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
    ("kubelet", ("kubelet", "k3s-server", "k3s-agent")),  # k3s runs its kubelet in its own process
    ("container runtime", ("dockerd", "containerd", "crio")),
    ("kube-proxy", ("kube-proxy",)),
    ("CNI agent", ("calico-node", "felix", "bird", "flanneld", "cilium-agent", "weaver")),
)
# kube-proxy and the CNI agent run in pods: in PID namespaces of their own under the node's.
POD_ROLES = ("kube-proxy", "CNI agent")
# What systemd starts a container runtime with, for one that is not running: its unit's LimitNOFILE=,
# else the manager's DefaultLimitNOFILE= (system.conf), else systemd's own default. containerd 2
# ships its unit without LimitNOFILE (docs/containerd-2.0.md, v2.3.4: "LimitNOFILE configuration has
# been removed"), relying on systemd 240's 1024:524288; below 240 the kernel's default applies
# (the same page: "or risk falling back to the kernel default of 4096").
RUNTIME_UNITS = {"containerd": "containerd.service", "dockerd": "docker.service", "crio": "crio.service"}
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")  # systemd's search path, first wins
SYSTEMD_NOFILE_SINCE, SYSTEMD_NOFILE, KERNEL_NOFILE = 240, (1024, 524288), (1024, 4096)


def _last(units: dict, name: str, section: str, key: str) -> tuple[str, str] | None:
    """(value, path) of the last key= in section of name (a unit, or "system.conf" under
    /etc/systemd) and its drop-ins: the first file found in systemd's directories, then the
    drop-ins in name order, a name in an earlier directory hiding the same name in later ones."""
    dirs = ("/etc/systemd",) + tuple(d.removesuffix("/system") for d in UNIT_DIRS[1:]) \
        if name == "system.conf" else UNIT_DIRS
    main = next(([f"{d}/{name}"] for d in dirs if f"{d}/{name}" in units), [])
    dropins: dict[str, str] = {}
    for d in dirs:
        for path in sorted(units):
            folder, _, base = path.rpartition("/")
            if folder == f"{d}/{name}.d" and base.endswith(".conf"):
                dropins.setdefault(base, path)
    found = None
    for path in main + [dropins[base] for base in sorted(dropins)]:
        for value in (units[path].get(section) or {}).get(key, []):
            found = (value, path)
    return found


def _limit(value: str) -> tuple[int | None, int | None]:
    """LimitNOFILE's value: "N" or "SOFT:HARD", "infinity" as None (unlimited)."""
    soft, _, hard = value.partition(":")
    parse = [None if v.strip() == "infinity" else int(v) for v in (soft, hard or soft)]
    return parse[0], parse[1]


def unit_nofile(facts: NodeFacts, comm: str) -> dict | None:
    """{soft, hard, source}: the nofile limits systemd starts the runtime comm with, by its unit;
    None when its unit was not gathered (facts from before units were read, or no such unit)."""
    units = facts.systemd_units or {}
    name = RUNTIME_UNITS[comm]
    if not any(path.rpartition("/")[2] == name for path in units):
        return None
    if (set_in := _last(units, name, "Service", "LimitNOFILE")) is not None:
        value, path = set_in
        limit, source = _limit(value), f"LimitNOFILE={value} in {path}"
    elif (default := _last(units, "system.conf", "Manager", "DefaultLimitNOFILE")) is not None:
        value, path = default
        limit, source = _limit(value), f"no LimitNOFILE in {name}: DefaultLimitNOFILE={value} in {path}"
    elif (version := facts.systemd_version) is None:
        return None
    elif version >= SYSTEMD_NOFILE_SINCE:
        limit, source = SYSTEMD_NOFILE, f"no LimitNOFILE in {name}: systemd {version}'s default 1024:524288"
    else:
        limit, source = KERNEL_NOFILE, (f"no LimitNOFILE in {name}: systemd {version} (< {SYSTEMD_NOFILE_SINCE}) "
                                        f"passes on the kernel's default 1024:4096")
    return {"soft": limit[0], "hard": limit[1], "source": source}


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
    001 §4's 1024:1024 left no room to raise: that is what fails here. A running daemon is judged by
    its measured limits; a container runtime that is stopped, by what its systemd unit will give it
    (unit_nofile): on systemd before 240 a unit without LimitNOFILE gets the kernel's 1024:4096.
    """
    found = Findings(("processes", "systemd-version", "runtime-units"), facts)
    daemons, absent = _daemons(facts)
    # The measured limits of a running process are the truth; a runtime's unit speaks for it only
    # while it is stopped (what it will get when systemd starts it).
    stopped = {comm: limit for comm in RUNTIME_UNITS if not any(p["comm"] == comm for _, p in daemons)
               and (limit := unit_nofile(facts, comm)) is not None}
    found.judged.update(minimum=minimum, judged="the hard limit (the soft limit can be raised up to it)",
                        absent=absent, stopped_runtimes_by_unit=stopped,
                        daemons=[{"role": role, "comm": p["comm"], "pid": p["pid"], "nofile": p["nofile"],
                                  "node_pid_namespace": p["node_pid_namespace"],
                                  **({"unit": unit_nofile(facts, p["comm"])} if p["comm"] in RUNTIME_UNITS else {})}
                                 for role, p in daemons])
    if not daemons and not stopped:
        return found.nothing("none of the node daemons runs here: " + "; ".join(absent))
    for _, proc in daemons:
        soft, hard = proc["nofile"]["soft"], proc["nofile"]["hard"]  # None: unlimited
        if hard is not None and hard < minimum:
            found.problems.append(f"{proc['comm']} (pid {proc['pid']}) hard nofile {hard} < {minimum} minimum "
                                  f"(short by {minimum - hard}): its soft limit ({soft}) cannot be raised that far")
    for comm, limit in stopped.items():
        if limit["hard"] is not None and limit["hard"] < minimum:
            found.problems.append(f"{comm} is not running; systemd will start it with hard nofile {limit['hard']} "
                                  f"({limit['source']}) < {minimum} minimum (short by {minimum - limit['hard']})")
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
