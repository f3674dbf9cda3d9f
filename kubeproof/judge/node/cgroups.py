"""Memory cgroups: the kmem accounting leak of old kernels, id headroom, and dying cgroups.

000/003 (mkdir ... no space left on device) and 001 §1 (SLUB: Unable to allocate memory): with
kernel memory accounting on, kernels before 4.8 did not free a memory cgroup's id when its
directory was removed; after enough pod churn the 65535 ids ran out. 001 saw it on 3.13, still on
4.2, and not after moving to 4.9. Upstream fixed it in 4.8: commit 73f576c04b94 ("mm: memcontrol:
fix cgroup creation failure after many small jobs") frees the id when the cgroup goes offline, so
from 4.8 a dying cgroup holds memory, not an id: neither the dying count nor live-plus-dying
against 65535 is the ENOSPC failure there, and only live memory cgroups can use up the ids. The
judges below judge what can fail on the node's own kernel, so that their verdict does not move
with the churn of whatever else runs on the node.

The reports' test, "memory.kmem.slabinfo under kubepods is readable", means something only on those
kernels: there, reading it fails with EIO unless kmem accounting was activated for the cgroup. On
current kernels it is readable (and empty) in every cgroup, so it says nothing; what still
happens is dying cgroups pinned by memory charged to them, counted in /proc/cgroups after rmdir.
"""

from __future__ import annotations

from ...nodes.facts import NodeFacts
from ..judgement import Findings, Judgement
from . import kubelet

FAILURE_IDS = ("cgroup-kmem-leak",)  # the catalog entries this module's judges decide

KMEM_FIXED = (4, 8)  # 73f576c04b94 frees the memcg id at offline (001 §1: 4.2 leaked, 4.9 did not)
MEMORY_CGROUP_IDS = 65535  # the memory controller's id space (MEM_CGROUP_ID_MAX)
NO_KMEM_LIMIT = 2 ** 63 - 4096  # memory.kmem.limit_in_bytes when no kmem limit was ever set (x86-64)
SECTIONS = ("kernel", "cgroup-mounts", "proc-cgroups", "memory-cgroup-dirs", "cgroup-stat", "kmem")
# The kubelet's own words on cgroup v1 (v1.35.4 and v1.37.2 alike). With failCgroupV1 (default true
# from 1.35) it refuses to start: validateKubeletOSConfiguration,
# pkg/kubelet/apis/config/validation/validation_linux.go.
CGROUP_V1_REFUSED = ("kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is "
                     "unsupported and will be removed in a future release")
# Without it, it runs and records a Warning Event (reason CgroupV1) with cm.CgroupV1DeprecatedWarning
# (pkg/kubelet/cm/container_manager.go; cgroupVersionCheck, pkg/kubelet/kubelet_linux.go).
CGROUP_V1_DEPRECATED = ("cgroup v1 detected. cgroup v1 support is deprecated and will be removed in a future "
                        "release. Please migrate to cgroup v2. More information at "
                        "https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1")
CGROUP_V1_UNSUPPORTED_SINCE = kubelet.FAIL_CGROUP_V1_SINCE


def _release(facts: NodeFacts) -> str:
    return facts.kernel_release or ".".join(map(str, facts.kernel_version or ()))


def kmem_accounting(facts: NodeFacts) -> tuple[bool | None, list[str]]:
    """(is kmem accounting live for pod cgroups, why) from the kubepods cgroups' kmem files.

    None when no kubepods memory cgroup shows either way.
    """
    live, inactive = [], []
    for path, kmem in sorted((facts.cgroup.get("kmem") or {}).items()):
        slab = kmem.get("slabinfo") or {}
        if slab.get("rc") == 0 and slab.get("bytes"):
            live.append(f"{path}/memory.kmem.slabinfo readable ({slab['bytes']} bytes)")
        elif slab.get("exists") and slab.get("rc"):
            inactive.append(f"{path}/memory.kmem.slabinfo: {slab.get('error') or 'unreadable'}")
        if (kmem.get("usage_in_bytes") or 0) > 0:
            live.append(f"{path}/memory.kmem.usage_in_bytes {kmem['usage_in_bytes']}")
        limit = kmem.get("limit_in_bytes")
        if limit is not None and limit < NO_KMEM_LIMIT:
            live.append(f"{path}/memory.kmem.limit_in_bytes {limit} (a kmem limit activates accounting)")
    if live:
        return True, live
    return (False, inactive) if inactive else (None, [])


def kmem_leak(facts: NodeFacts) -> Judgement:
    """The node's kernel cannot leak memory cgroup ids through kmem accounting."""
    found = Findings(SECTIONS, facts)
    version = facts.kernel_version
    if version is None:
        return found.nothing("the kernel release was not gathered")
    nokmem = "nokmem" in (facts.kernel_cmdline_params.get("cgroup.memory") or "").split(",")
    live, signs = kmem_accounting(facts)
    found.judged.update(kernel=_release(facts), fixed_in=".".join(map(str, KMEM_FIXED)),
                        cgroup_version=facts.cgroup_version, nokmem=nokmem, kmem_live=live,
                        kmem_signs=signs)
    if tuple(version) >= KMEM_FIXED:
        found.judged["reading"] = ("kernel releases removed memory cgroups' ids; a readable but empty "
                                   "memory.kmem.slabinfo is not a leak sign on it")
        return found.verdict()
    if nokmem:
        found.judged["reading"] = "cgroup.memory=nokmem: kernel memory is not accounted"
        return found.verdict()
    fixed = ".".join(map(str, KMEM_FIXED))
    if live:
        found.problems.append(f"kernel {_release(facts)} < {fixed} with kmem accounting live ("
                              + "; ".join(signs) + ") and no cgroup.memory=nokmem: removed pod "
                              "cgroups keep their memory cgroup ids until mkdir fails with ENOSPC")
    elif live is None:
        found.problems.append(f"kernel {_release(facts)} < {fixed}, no cgroup.memory=nokmem and no "
                              f"kubepods memory cgroup showing kmem accounting off: a runc or kubelet "
                              f"built without the nokmem tag turns it on for every pod")
    else:
        found.judged["reading"] = "kmem accounting inactive (EIO on slabinfo): the reports' sign of no leak"
    return found.verdict()


def _frees_ids(facts: NodeFacts) -> bool:
    return facts.kernel_version is not None and tuple(facts.kernel_version) >= KMEM_FIXED


def id_headroom(facts: NodeFacts, max_percent: float) -> Judgement:
    """Memory cgroup ids in use stay under max_percent of the 65535: live and dying ones before 4.8,
    live ones from 4.8 (dying ones have freed theirs)."""
    found = Findings(("kernel", "proc-cgroups", "memory-cgroup-dirs"), facts)
    memory = (facts.cgroup.get("controllers") or {}).get("memory")
    if not memory or not memory.get("enabled") or memory.get("num_cgroups") is None:
        return found.nothing("no memory cgroup controller enabled in /proc/cgroups")
    dirs = facts.cgroup.get("memory_dirs") or {}
    if _frees_ids(facts) and dirs.get("root") == "/" and dirs.get("count") is not None:
        used, what = dirs["count"], f"live memory cgroups (directories under {dirs['path']}; kernel " \
                                     f"{_release(facts)} frees a dying cgroup's id)"
    else:
        # /proc/cgroups counts dying cgroups too, and on cgroup v2 every cgroup of the hierarchy.
        used, what = memory["num_cgroups"], "memory cgroups in use (live and dying, /proc/cgroups)"
    allowed = int(MEMORY_CGROUP_IDS * max_percent / 100)
    found.judged.update(used=used, counted=what, num_cgroups=memory["num_cgroups"], allowed=allowed,
                        limit=MEMORY_CGROUP_IDS, max_percent=max_percent, kernel=_release(facts))
    if used > allowed:
        found.problems.append(f"{used} {what} > {allowed} ({max_percent:g}% of the {MEMORY_CGROUP_IDS} ids; "
                              f"over by {used - allowed})")
    return found.verdict()


def dying(facts: NodeFacts) -> tuple[int, str] | None:
    """(dying memory cgroups, how they were counted), or None when the facts cannot tell.

    cgroup v2: the root's nr_dying_descendants. v1 (also hybrid, where the unified mount holds no
    controller): /proc/cgroups' num_cgroups minus the live directories, valid only when the whole
    memory hierarchy is visible where they were counted.
    """
    cgroup = facts.cgroup
    stat = cgroup.get("stat") or {}
    if cgroup.get("version") == 2 and stat.get("nr_dying_descendants") is not None:
        return stat["nr_dying_descendants"], f"nr_dying_descendants in {stat['path']}"
    memory = (cgroup.get("controllers") or {}).get("memory") or {}
    dirs = cgroup.get("memory_dirs") or {}
    if cgroup.get("version") == 1 and dirs.get("root") == "/" and None not in (
            memory.get("num_cgroups"), dirs.get("count")):
        return (max(memory["num_cgroups"] - dirs["count"], 0),
                f"num_cgroups {memory['num_cgroups']} in /proc/cgroups - {dirs['count']} live "
                f"directories under {dirs['path']}")
    return None


def dying_accumulation(facts: NodeFacts, max_dying: int) -> Judgement:
    """Before 4.8, removed memory cgroups are released instead of piling up as dying ones holding ids.
    From 4.8 the count is reported and is no failure: the ids are freed at offline (73f576c04b94)."""
    found = Findings(("kernel", "proc-cgroups", "memory-cgroup-dirs", "cgroup-stat"), facts)
    counted = dying(facts)
    found.judged.update(max_dying=max_dying, kernel=_release(facts), memory_dirs=facts.cgroup.get("memory_dirs"),
                        stat=facts.cgroup.get("stat"))
    if counted is not None:
        found.judged.update(dying=counted[0], counted_as=counted[1])
    if facts.kernel_version is None:
        return found.nothing("the kernel release was not gathered")
    if _frees_ids(facts):
        found.judged["reading"] = (f"kernel {_release(facts)} frees a memory cgroup's id when it goes offline "
                                   "(73f576c04b94, 4.8): dying cgroups hold memory until reclaimed, not ids, so "
                                   "their count is not the ENOSPC failure")
        return found.verdict()
    if counted is None:
        return found.nothing("dying memory cgroups cannot be counted here: no cgroup v2 "
                             "nr_dying_descendants, and the v1 memory hierarchy is not visible whole "
                             f"(mount root {(facts.cgroup.get('memory_dirs') or {}).get('root')})")
    count, how = counted
    if count > max_dying:
        found.problems.append(f"{count} dying memory cgroups ({how}) > {max_dying} maximum (over by "
                              f"{count - max_dying}): on kernel {_release(facts)} each keeps its memory cgroup id")
    return found.verdict()


def kubelet_cgroup_v2(facts: NodeFacts) -> Judgement:
    """A kubelet from 1.35 runs on cgroup v2: on cgroup v1, the hierarchy of 000/001's memory cgroup
    leaks, it refuses to start (failCgroupV1: true, the default) or runs deprecated (false)."""
    found = Findings(("cgroup-mounts", "kubelet-version", "processes", "kubelet-config", "kubelet-config-dir",
                      "kubelet-env"), facts)
    if not kubelet.present(facts):
        return found.nothing(kubelet.ABSENT)
    version, cgroup = facts.kubelet_version, facts.cgroup_version
    if version is None or cgroup is None:
        return found.nothing("the kubelet's version or the cgroup mounts were not gathered")
    release = ".".join(map(str, version))
    found.judged.update(kubelet=release, cgroup_version=cgroup, hybrid=facts.cgroup.get("hybrid"),
                        unsupported_since=".".join(map(str, CGROUP_V1_UNSUPPORTED_SINCE)))
    if cgroup == 2 or version < CGROUP_V1_UNSUPPORTED_SINCE:
        return found.verdict()
    try:
        effective = kubelet.resolve(facts)
    except ValueError as exc:
        return found.nothing(f"{exc}: the kubelet refuses to start with it")
    refuses = effective.config["failCgroupV1"]
    found.judged.update(failCgroupV1=refuses, source=effective.source("failCgroupV1"))
    where = f"kubelet {release} on cgroup v1 ({'hybrid, ' if facts.cgroup.get('hybrid') else ''}" \
            f"no cgroup2 at /sys/fs/cgroup) with {effective.source('failCgroupV1')}"
    if refuses:
        found.problems.append(f'{where}: the kubelet refuses to start: "{CGROUP_V1_REFUSED}"; move the node to '
                              "cgroup v2")
    else:
        found.problems.append(f'{where}: the kubelet runs on a hierarchy it no longer supports, and warns "'
                              f'{CGROUP_V1_DEPRECATED}"; move the node to cgroup v2')
    return found.verdict()
