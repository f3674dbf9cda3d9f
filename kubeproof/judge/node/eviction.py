"""The kubelet's hard eviction thresholds, and the free space they leave on nodefs and imagefs.

002: on a 6 GB root partition at 92% use the kubelet's default nodefs.available<10% was met; the
node was tainted, its pods evicted and new ones refused. Nobody had chosen that threshold.

Thresholds come from --eviction-hard (flags override the config file), else evictionHard in the
KubeletConfiguration, else the kubelet's defaults. An explicit set replaces the defaults: the
signals it does not list are 0, disabled, unless mergeDefaultEvictionSettings is true. This is what
the node's files say; the kubelet's live view (/configz) is only reachable through the API server
proxy, out of reach of read-only node facts, and config drop-in directories (--config-dir) are
not read.

nodefs is the filesystem of the kubelet's root directory; imagefs the one holding the runtime's
images. When both are the same filesystem the kubelet still applies the imagefs thresholds to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...nodes.facts import NodeFacts
from . import kubelet, runtime
from ..judgement import Findings, Judgement
from ..units import quantity, size

FAILURE_IDS = ("nodefs-pressure",)  # the catalog entries this module's judges decide

SECTIONS = ("processes", "kubelet-config", "kubelet-env", "df")
# The kubelet's defaults on Linux when no threshold is configured (newer kubelets add
# imagefs.inodesFree<5%; judged when configured).
DEFAULTS = {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
            "imagefs.available": "15%"}
# signal -> (filesystem role, what it measures)
DISK_SIGNALS = {"nodefs.available": ("nodefs", "space"), "nodefs.inodesFree": ("nodefs", "inodes"),
                "imagefs.available": ("imagefs", "space"), "imagefs.inodesFree": ("imagefs", "inodes")}
# The disk signals that have defaults: relying on those silently is what 002 did.
MUST_BE_EXPLICIT = ("nodefs.available", "nodefs.inodesFree", "imagefs.available")


@dataclass(frozen=True)
class Thresholds:
    values: dict[str, str]    # signal -> "10%" | "1Gi" | "0" (disabled), every signal in effect or zeroed
    explicit: dict[str, str]  # the signals the operator set
    source: str               # where they were read
    zeroed: tuple[str, ...]   # default signals an explicit set left out, hence disabled

    def as_dict(self) -> dict:
        return dict(vars(self), zeroed=list(self.zeroed))


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
    flag = kubelet.flag(facts, "eviction-hard")
    config, path = kubelet.config(facts)
    config = config or {}
    if flag is not None:
        explicit, source = parse_flag(flag), f"--eviction-hard ({kubelet.flags(facts)[1]})"
    elif isinstance(config.get("evictionHard"), dict):
        explicit, source = {k: str(v) for k, v in config["evictionHard"].items()}, f"evictionHard in {path}"
    else:
        return Thresholds(dict(DEFAULTS), {}, f"no evictionHard in {path}, no --eviction-hard", ())
    if config.get("mergeDefaultEvictionSettings") is True:
        return Thresholds({**DEFAULTS, **explicit}, explicit, source + " merged with the defaults", ())
    zeroed = tuple(s for s in DEFAULTS if s not in explicit)
    return Thresholds({**{s: "0" for s in zeroed}, **explicit}, explicit, source, zeroed)


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


def free_space(facts: NodeFacts, margin_percent: float) -> Judgement:
    """Free bytes and inodes of nodefs and imagefs above each hard threshold plus the margin."""
    found = Findings(SECTIONS, facts)
    if not kubelet.present(facts):
        return found.nothing(kubelet.ABSENT)
    try:
        thresholds = hard_thresholds(facts)
    except ValueError as exc:
        found.problems.append(f"{exc}: the kubelet refuses to start with it")
        return found.verdict()
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
    if threshold <= 0:  # disabled: the kubelet never evicts on it (explicitly_set reports that)
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


def explicitly_set(facts: NodeFacts) -> Judgement:
    """The disk thresholds that have defaults are set on purpose, and none is disabled."""
    found = Findings(SECTIONS, facts)
    if not kubelet.present(facts):
        return found.nothing(kubelet.ABSENT)
    try:
        thresholds = hard_thresholds(facts)
    except ValueError as exc:
        found.problems.append(str(exc))
        return found.verdict()
    found.judged["thresholds"] = thresholds.as_dict()
    found.judged["note"] = "read from the node's config file and flags; /configz is not reachable from node facts"
    for signal in MUST_BE_EXPLICIT:
        value = thresholds.explicit.get(signal)
        if signal in thresholds.zeroed:
            found.problems.append(
                f"{signal} is disabled: {thresholds.source} does not list it, and an explicit set "
                f"zeroes the signals it leaves out (set it, or mergeDefaultEvictionSettings: true)")
        elif value is None:
            found.problems.append(f"{signal} is not configured ({thresholds.source}): the kubelet "
                                  f"evicts at its default <{DEFAULTS[signal]}, which nobody chose")
        elif _is_zero(value):
            found.problems.append(f"{signal}<{value} in {thresholds.source} disables eviction on it")
    return found.verdict()


def _is_zero(value: str) -> bool:
    try:
        return amount(value, 1) == 0
    except ValueError:
        return False
