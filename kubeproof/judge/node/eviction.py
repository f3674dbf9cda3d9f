"""The kubelet's hard eviction thresholds, and the free space they leave on nodefs and imagefs.

002: on a 6 GB root partition at 92% use the kubelet's default nodefs.available<10% was met; the
node was tainted, its pods evicted and new ones refused. 001 §3 ran a partial --eviction-hard.

Which thresholds a kubelet applies, as upstream decides it:
- nothing set: DefaultEvictionHard (pkg/kubelet/eviction/defaults_linux.go): memory.available<100Mi,
  nodefs.available<10%, nodefs.inodesFree<5%, imagefs.available<15%, and imagefs.inodesFree<5% from
  1.29 (PR #121834). The defaults are the kubelet's documented behaviour, not a failure.
- --eviction-hard: the flag's map replaces the defaults (cliflag.MapStringString clears the map on
  its first Set), so every default signal it leaves out has no threshold: disabled.
- evictionHard in the config file: the same on kubelets up to 1.32 (the v1beta1 defaulting only
  fills a nil map); from 1.33 mergeDefaultEvictionSettings: true fills the signals left out with
  their defaults (pkg/kubelet/apis/config/v1beta1/defaults.go). It does not apply to the flag.
- a threshold of 0 or 0% disables its signal (kind writes nodefs.available, nodefs.inodesFree and
  imagefs.available "0%" on purpose, pkg/cluster/internal/kubeadm/config.go: its nested kubelets
  would otherwise evict for the host's disk).
This is what the node's files say; the kubelet's live view (/configz) is only reachable through the
API server proxy, and config drop-in directories (--config-dir) are not read.

nodefs is the filesystem of the kubelet's root directory; imagefs the one holding the runtime's
images. When both are the same filesystem the kubelet still applies the imagefs thresholds to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...nodes.facts import NodeFacts
from ..judgement import Findings, Judgement
from ..units import quantity, size
from . import kubelet, runtime

FAILURE_IDS = ("nodefs-pressure",)  # the catalog entries this module's judges decide

SECTIONS = ("processes", "kubelet-version", "kubelet-config", "kubelet-env", "df")
# DefaultEvictionHard on Linux, and the kubelet release that added each signal to it.
DEFAULTS = {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
            "imagefs.available": "15%", "imagefs.inodesFree": "5%"}
DEFAULT_SINCE = {"imagefs.inodesFree": (1, 29)}
MERGE_SINCE = (1, 33)  # mergeDefaultEvictionSettings
KIND_ZEROES = {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"}
# signal -> (filesystem role, what it measures)
DISK_SIGNALS = {"nodefs.available": ("nodefs", "space"), "nodefs.inodesFree": ("nodefs", "inodes"),
                "imagefs.available": ("imagefs", "space"), "imagefs.inodesFree": ("imagefs", "inodes")}


@dataclass(frozen=True)
class Thresholds:
    values: dict[str, str]    # signal -> "10%" | "1Gi" | "0" (disabled), every signal in effect or zeroed
    explicit: dict[str, str]  # the signals the operator set
    source: str               # where they were read
    zeroed: tuple[str, ...]   # default signals an explicit set left out, hence disabled
    kubelet: str              # the kubelet version the rules were chosen for

    def as_dict(self) -> dict:
        return dict(vars(self), zeroed=list(self.zeroed))


def defaults(version: tuple[int, ...] | None) -> dict[str, str]:
    """DefaultEvictionHard of this kubelet release (an unknown release: the current one's)."""
    return {signal: value for signal, value in DEFAULTS.items()
            if version is None or version >= DEFAULT_SINCE.get(signal, (0,))}


def parse_flag(text: str) -> dict[str, str]:
    """--eviction-hard's value: "memory.available<100Mi,nodefs.available<10%" -> {signal: value}."""
    thresholds = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        signal, operator, value = part.partition("<")
        if not operator or not signal.strip() or not value.strip():
            raise ValueError(f"--eviction-hard: {part!r} is not SIGNAL<VALUE")
        thresholds[signal.strip()] = value.strip()
    return thresholds


def hard_thresholds(facts: NodeFacts) -> Thresholds:
    """The hard thresholds the node's kubelet applies. ValueError if its flag does not parse."""
    version = facts.kubelet_version
    release = ".".join(map(str, version)) if version else "of unknown version (current rules assumed)"
    default = defaults(version)
    flag = kubelet.flag(facts, "eviction-hard")
    config, path = kubelet.config(facts)
    config = config or {}
    if flag is not None:
        explicit, source = parse_flag(flag), f"--eviction-hard ({kubelet.flags(facts)[1]})"
    elif isinstance(config.get("evictionHard"), dict):
        explicit, source = {k: str(v) for k, v in config["evictionHard"].items()}, f"evictionHard in {path}"
        if config.get("mergeDefaultEvictionSettings") is True and (version is None or version >= MERGE_SINCE):
            return Thresholds({**default, **explicit}, explicit, source + " merged with the defaults", (), release)
    else:
        return Thresholds(default, {}, f"the kubelet's defaults (no evictionHard in {path}, no --eviction-hard)",
                          (), release)
    zeroed = tuple(s for s in default if s not in explicit)
    return Thresholds({**{s: "0" for s in zeroed}, **explicit}, explicit, source, zeroed, release)


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
    found.judged["note"] = "read from the node's config file and flags; /configz is not reachable from node facts"
    version = facts.kubelet_version
    if thresholds.source.startswith("--"):
        remedy = "list every signal in the flag (mergeDefaultEvictionSettings does not apply to flags)"
    elif version is not None and version < MERGE_SINCE:
        remedy = f"list every signal (kubelet {thresholds.kubelet} has no mergeDefaultEvictionSettings)"
    else:
        remedy = "list every signal, or set mergeDefaultEvictionSettings: true"
    for signal in thresholds.zeroed:
        found.problems.append(
            f"{signal} is disabled: {thresholds.source} does not list it, and an explicit set replaces the "
            f"kubelet's defaults (<{DEFAULTS[signal]}) with nothing for the signals it leaves out; {remedy}")
    kind = all(thresholds.explicit.get(k) == v for k, v in KIND_ZEROES.items())
    for signal, value in thresholds.explicit.items():
        if _is_zero(value):
            why = (" (kind's setting, made so its nested kubelets do not evict for the host's disk: no disk "
                   "pressure eviction on this node)" if kind and signal in KIND_ZEROES else "")
            found.problems.append(f"{signal}<{value} in {thresholds.source} disables eviction on it{why}")
    return found.verdict()


def _is_zero(value: str) -> bool:
    try:
        return amount(value, 1) == 0
    except ValueError:
        return False
