"""The kubelet's hard eviction thresholds, and the free space they leave on nodefs and imagefs.

002: on a 6 GB root partition at 92% use the kubelet's default nodefs.available<10% was met; the
node was tainted, its pods evicted and new ones refused. 001 §3 ran a partial --eviction-hard.

Which thresholds a kubelet applies is its effective evictionHard, rebuilt as the kubelet builds it
(kubelet.effective_config: config file, drop-ins, flags; cmd/kubelet/app/server.go):
- a --config file without evictionHard: DefaultEvictionHard (pkg/kubelet/eviction/defaults_linux.go):
  memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%, imagefs.available<15%, and
  imagefs.inodesFree<5% from 1.29 (PR #121834), filled in by loadConfigFile. Not a failure.
- evictionHard in the --config file: only the signals it lists; from 1.33 loadConfigFile adds the
  default signals it leaves out when that file sets mergeDefaultEvictionSettings: true. The setting
  acts nowhere else: not in a drop-in, not on --eviction-hard.
- drop-ins (--config-dir): their evictionHard merges key by key into the map so far (JSON merge
  patch), so over a config file's defaults they only change the signals they name.
- no --config file (drop-ins alone, or flags alone): the kubelet starts from no evictionHard at all
  (options.NewKubeletConfiguration; loadConfigFile is the only place defaults are filled), so every
  signal its drop-ins or flag leave out has no threshold.
- --eviction-hard: the flag's map replaces the whole map (cliflag.LangleSeparatedMapStringString
  clears it on its first Set), so every default signal it leaves out is disabled.
- a threshold of 0 or 0% disables its signal (kind writes nodefs.available, nodefs.inodesFree and
  imagefs.available "0%" on purpose, pkg/cluster/internal/kubeadm/config.go: its nested kubelets
  would otherwise evict for the host's disk).
This is what the node's files and command line say; the kubelet's live view (/configz) is only
reachable through the API server proxy, which the product does not ask for.

nodefs is the filesystem of the kubelet's root directory; imagefs the one holding the runtime's
images. When both are the same filesystem the kubelet still applies the imagefs thresholds to it, but
needs none: without a dedicated imagefs (HasDedicatedImageFs, the image store's device against the
root's) its nodefs signals reclaim unused images and rank pods by their images' use too
(buildSignalToNodeReclaimFuncs, buildSignalToRankFunc in pkg/kubelet/eviction/helpers.go, v1.37.2),
so an imagefs signal left out or at 0 is no gap there while its nodefs twin is in effect.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...nodes.facts import NodeFacts
from ..judgement import Findings, Judgement
from ..units import quantity, size
from . import kubelet, runtime

FAILURE_IDS = ("nodefs-pressure",)  # the catalog entries this module's judges decide

SECTIONS = ("processes", "kubelet-version", "kubelet-config", "kubelet-config-dir", "kubelet-env", "df")
DEFAULTS = kubelet.DEFAULT_EVICTION_HARD
KIND_ZEROES = {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"}
# signal -> (filesystem role, what it measures)
DISK_SIGNALS = {"nodefs.available": ("nodefs", "space"), "nodefs.inodesFree": ("nodefs", "inodes"),
                "imagefs.available": ("imagefs", "space"), "imagefs.inodesFree": ("imagefs", "inodes")}


@dataclass(frozen=True)
class Thresholds:
    values: dict[str, str]    # signal -> "10%" | "1Gi" | "0" (disabled), every signal in effect or zeroed
    explicit: dict[str, str]  # the signals the operator set (not filled in from the defaults)
    origins: dict[str, str]   # explicit signal -> where it is set ("evictionHard in PATH", "--eviction-hard (...)")
    source: str               # where they were read
    zeroed: tuple[str, ...]   # default signals left without a threshold, hence disabled
    kubelet: str              # the kubelet version the rules were chosen for
    base: str                 # what the map started from: "flag" | "config" (a --config file) | "none"
    remedy: str               # what gives the zeroed signals a threshold

    def as_dict(self) -> dict:
        return dict(vars(self), zeroed=list(self.zeroed))


def hard_thresholds(facts: NodeFacts) -> Thresholds:
    """The hard thresholds the node's kubelet applies: the evictionHard of
    kubelet.effective_config. ValueError for a configuration the kubelet refuses to start with."""
    version = facts.kubelet_version
    release = ".".join(map(str, version)) if version else "of unknown version (current rules assumed)"
    effective = kubelet.resolve(facts)
    applied = effective.config["evictionHard"]
    explicit = {s: v for s, v in applied.items()
                if not effective.eviction_origin.get(s, "").startswith("DefaultEvictionHard")}
    zeroed = tuple(s for s in kubelet.defaults(version) if s not in applied)
    set_in = {s: effective.eviction_origin[s] for s in explicit}
    origins = list(dict.fromkeys(set_in.values()))
    flag = effective.origin.get("evictionHard", "").startswith("--")
    base = "flag" if flag else "config" if effective.config_file else "none"
    if flag:
        source = origins[0]
    elif explicit:
        source = " and ".join(origins) + (" merged with the defaults" if any(
            "mergeDefaultEvictionSettings" in o for o in effective.eviction_origin.values()) else "")
    elif applied:
        source = (f"the kubelet's defaults (no evictionHard in {effective.config_file}"
                  + "".join(f", {p}" for p in effective.dropins) + ", no --eviction-hard)")
    else:
        source = ("no evictionHard: no --config file, no --eviction-hard"
                  + (", none in the drop-ins " + ", ".join(effective.dropins) if effective.dropins else ""))
    return Thresholds({**{s: "0" for s in zeroed}, **applied}, explicit, set_in, source, zeroed, release, base,
                      _remedy(effective, base, version, release))


def _remedy(effective: kubelet.Effective, base: str, version: tuple[int, ...] | None, release: str) -> str:
    if base == "flag":
        return "list every signal in the flag (mergeDefaultEvictionSettings does not apply to flags)"
    if version is not None and version < kubelet.MERGE_SINCE:
        return f"list every signal (kubelet {release} has no mergeDefaultEvictionSettings)"
    where = effective.origin.get("mergeDefaultEvictionSettings", "")
    ignored = (f" (mergeDefaultEvictionSettings: true {where} fills nothing: the kubelet merges the defaults "
               "in loadConfigFile, into the --config file only)"
               if effective.config.get("mergeDefaultEvictionSettings") is True and "drop-in" in where else "")
    if base == "config":
        return f"list every signal, or set mergeDefaultEvictionSettings: true in {effective.config_file}{ignored}"
    return f"list every signal, or give the kubelet a --config file with mergeDefaultEvictionSettings: true{ignored}"


def amount(value: str, total: float) -> float:
    """What a threshold means on a filesystem of total bytes or inodes: "10%" -> 0.1 * total."""
    value = value.strip()
    if value.endswith("%"):
        return float(value[:-1]) / 100 * total
    return quantity(value)


def _filesystems(facts: NodeFacts) -> dict[str, list[tuple[str, str]]]:
    """role -> [(directory, why that directory)]."""
    root = kubelet.root_dir(facts)
    return {
        "nodefs": [(root, "the kubelet's root directory")],
        "imagefs": [(r.root, f"{r.name}'s root, {r.root_source}") for r in runtime.kubelet_runtimes(facts)],
    }


def _start(facts: NodeFacts) -> tuple[Findings, Thresholds | Judgement]:
    """The findings to fill and the thresholds in effect, or the Judgement already reached: no
    kubelet, or an --eviction-hard that does not parse."""
    found = Findings(SECTIONS, facts)
    if not kubelet.present(facts):
        return found, found.nothing(kubelet.ABSENT)
    try:
        return found, hard_thresholds(facts)
    except ValueError as exc:
        found.problems.append(f"{exc}: the kubelet refuses to start with it")
        return found, found.verdict()


def free_space(facts: NodeFacts, margin_percent: float) -> Judgement:
    """Free bytes and inodes of nodefs and imagefs above each hard threshold plus the margin."""
    found, thresholds = _start(facts)
    if isinstance(thresholds, Judgement):
        return thresholds
    found.judged.update(thresholds=thresholds.as_dict(), margin_percent=margin_percent,
                        filesystems={}, absent=[])
    for role, places in _filesystems(facts).items():
        for directory, why in places:
            fs = facts.filesystem(directory)
            if fs is None:
                found.judged["absent"].append(f"{role} {directory} ({why}) does not exist on the node")
                continue
            found.judged["filesystems"][f"{role} {directory}"] = fs
            for signal, (signal_role, measure) in DISK_SIGNALS.items():
                value = thresholds.values.get(signal)
                if signal_role == role and value is not None:
                    found.problems += _shortfall(role, directory, fs, signal, value, measure, margin_percent)
    if not found.judged["filesystems"]:
        return found.nothing("neither nodefs nor imagefs is on this node: "
                             + "; ".join(found.judged["absent"]))
    return found.verdict()


def _shortfall(role: str, directory: str, fs: dict, signal: str, value: str, measure: str,
               margin_percent: float) -> list[str]:
    total, free = ((fs["size_bytes"], fs["avail_bytes"]) if measure == "space"
                   else (fs["inodes_total"], fs["inodes_free"]))
    if not total or free is None:  # inodes on btrfs: df cannot tell, neither can the kubelet
        return []
    try:
        threshold = amount(value, total)
    except ValueError:
        return [f"{signal}<{value}: not a threshold the kubelet accepts"]
    if threshold <= 0:  # disabled: the kubelet never evicts on it (in_effect reports that)
        return []
    required = threshold + margin_percent / 100 * total
    if free >= required:
        return []
    where = f"{role} {directory} ({fs['device']} on {fs['mount_point']})"
    rule = f"the kubelet's {signal}<{value} plus the {margin_percent:g}% margin"
    share = f"{100 * free / total:.1f}%"
    if measure == "space":
        return [f"{where}: {size(free)} free ({share}) < {size(required)} required by {rule} "
                f"(short by {size(required - free)})"]
    return [f"{where}: {free:,} inodes free ({share}) < {required:,.0f} required by {rule} "
            f"(short by {required - free:,.0f} inodes)"]


def in_effect(facts: NodeFacts) -> Judgement:
    """No eviction signal the kubelet has a default for is disabled: neither left out of a partial
    set (memory.available included) nor set to 0."""
    found, thresholds = _start(facts)
    if isinstance(thresholds, Judgement):
        return thresholds
    found.judged["thresholds"] = thresholds.as_dict()
    found.judged["sources"] = kubelet.effective_config(facts)[1]
    covered = _covered_by_nodefs(facts, thresholds)
    found.judged["covered_by_nodefs"] = covered
    for signal in thresholds.zeroed:
        if signal in covered:
            continue
        default = DEFAULTS[signal]
        if thresholds.base != "none":
            why = (f"{thresholds.source} does not list it, and an explicit set replaces the kubelet's defaults "
                   f"(<{default}) with nothing for the signals it leaves out")
        elif thresholds.explicit:
            why = (f"{thresholds.source} does not list it, and without a --config file the kubelet never fills "
                   f"in its default (<{default}): loadConfigFile alone does")
        else:
            why = (f"{thresholds.source}: the kubelet fills in its defaults (<{default}) only for a --config "
                   "file (loadConfigFile), so without one it has no threshold")
        found.problems.append(f"{signal} is disabled: {why}; {thresholds.remedy}")
    kind = all(thresholds.explicit.get(k) == v for k, v in KIND_ZEROES.items())
    for signal, value in thresholds.explicit.items():
        if _is_zero(value) and signal not in covered:
            why = (" (kind's setting, made so its nested kubelets do not evict for the host's disk: no disk "
                   "pressure eviction on this node)" if kind and signal in KIND_ZEROES else "")
            found.problems.append(f"{signal}<{value} in {thresholds.origins[signal]} disables eviction on it{why}")
    return found.verdict()


def _covered_by_nodefs(facts: NodeFacts, thresholds: Thresholds) -> dict[str, str]:
    """{imagefs signal: why it needs no threshold}: the images share the kubelet's filesystem (same
    device and mount) and the nodefs signal measuring the same thing is in effect."""
    nodefs = facts.filesystem(kubelet.root_dir(facts))
    stores = [(r, facts.filesystem(r.root)) for r in runtime.kubelet_runtimes(facts)]
    if nodefs is None or not stores or any(fs is None or (fs["device"], fs["mount_point"]) !=
                                           (nodefs["device"], nodefs["mount_point"]) for _, fs in stores):
        return {}
    covered = {}
    for signal in ("imagefs.available", "imagefs.inodesFree"):
        twin = signal.replace("imagefs", "nodefs")
        value = thresholds.values.get(twin)
        if value is not None and not _is_zero(value):
            covered[signal] = (f"{', '.join(f'{r.name} {r.root}' for r, _ in stores)} shares nodefs "
                               f"{nodefs['mount_point']} ({nodefs['device']}): {twin}<{value} reclaims images")
    return covered


def _is_zero(value: str) -> bool:
    try:
        return amount(value, 1) == 0
    except ValueError:
        return False
