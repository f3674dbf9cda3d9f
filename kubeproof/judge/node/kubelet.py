"""The kubelet as its facts show it: whether the node has one, its flags, the configuration it runs.

The running kubelet's command line is the truth; while it is down, the flags configured in its
env files and systemd units stand in (kubeadm-flags.env, /etc/default/kubelet, drop-ins).

effective_config() rebuilds the KubeletConfiguration the kubelet runs with as NewKubeletCommand
(cmd/kubelet/app/server.go, v1.35.4 and v1.37.2 alike) builds it:
1. the baseline is options.NewKubeletConfiguration(): the v1beta1 defaults and no evictionHard;
2. a --config file replaces it (loadConfigFile), and only there is evictionHard defaulted: a nil
   map becomes eviction.DefaultEvictionHard, and from 1.33 a set map with
   mergeDefaultEvictionSettings: true gets the default signals it leaves out;
3. --config-dir: every *.conf under the directory, walked in lexical order (filepath.WalkDir, so a
   subdirectory's files come where its name sorts), each a JSON merge patch (RFC 7386) over the
   result so far (mergeKubeletConfigurations): later files override fields, maps merge key by key
   (a drop-in's evictionHard adds to the signals already there, null removes one), lists are
   replaced; the v1beta1 defaults are applied again after, which never touch evictionHard;
4. the command line wins over both (kubeletConfigFlagPrecedence re-parses it); --eviction-hard
   replaces the whole map (cliflag.LangleSeparatedMapStringString clears it on its first Set; a
   repeated flag adds to it).
So a kubelet without a --config file (drop-ins only, or flags only) has no hard eviction threshold
for any signal its drop-ins or --eviction-hard do not name.
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass, field

from ...nodes.facts import NodeFacts

DEFAULT_ROOT_DIR = "/var/lib/kubelet"
ABSENT = f"no kubelet on this node (no kubelet process, no kubelet config or flags file, no {DEFAULT_ROOT_DIR})"
KIND = ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")  # the only kind a drop-in may hold
DROPIN_SUFFIX = ".conf"

# eviction.DefaultEvictionHard (pkg/kubelet/eviction/defaults_linux.go), and the release that added
# each signal to it (imagefs.inodesFree: 1.29, PR #121834).
DEFAULT_EVICTION_HARD = {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
                         "imagefs.available": "15%", "imagefs.inodesFree": "5%"}
EVICTION_DEFAULT_SINCE = {"imagefs.inodesFree": (1, 29)}
MERGE_SINCE = (1, 33)  # mergeDefaultEvictionSettings, read by loadConfigFile
# Before PR #110263 (1.25, the PR loadConfigFile's comment cites; not checked against that release's
# source) the v1beta1 defaulting filled a nil evictionHard, for the flag baseline too.
CONFIG_FILE_ONLY_DEFAULTS_SINCE = (1, 25)
FAIL_CGROUP_V1_SINCE = (1, 35)  # SetDefaults_KubeletConfiguration: failCgroupV1 true (false before)

# Flags that set KubeletConfiguration fields (options.AddKubeletConfigFlags), by kind of value.
BOOL_FLAGS = {"fail-cgroupv1": "failCgroupV1", "rotate-certificates": "rotateCertificates",
              "rotate-server-certificates": "serverTLSBootstrap", "protect-kernel-defaults": "protectKernelDefaults"}
STRING_FLAGS = {"cgroup-driver": "cgroupDriver", "container-runtime-endpoint": "containerRuntimeEndpoint"}
# strconv.ParseBool, which pflag's booleans use.
TRUE, FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")


def present(facts: NodeFacts) -> bool:
    """A kubelet runs, or is installed and configured, on this node."""
    kubelet = facts.kubelet
    return bool(facts.kubelet_running or kubelet.get("config") is not None
                or kubelet.get("configured_flags") or facts.filesystem(DEFAULT_ROOT_DIR))


def flags(facts: NodeFacts) -> tuple[dict[str, list[str]], str]:
    """(flags, where they come from): the running kubelet's, else the configured files' merged in
    path order (later files override, as systemd drop-ins sorted by name do)."""
    if facts.kubelet_running:
        return facts.kubelet_flags, f"the running kubelet's command line (pid {facts.kubelet['pid']})"
    merged: dict[str, list[str]] = {}
    configured = facts.kubelet.get("configured_flags") or {}
    for path in sorted(configured):
        merged.update(configured[path])
    return merged, ("the kubelet's flag files " + ", ".join(sorted(configured)) if configured
                    else "no kubelet command line or flag file")


def flag(facts: NodeFacts, name: str) -> str | None:
    values = flags(facts)[0].get(name)
    return values[-1] if values else None


def defaults(version: tuple[int, ...] | None) -> dict[str, str]:
    """DefaultEvictionHard of this kubelet release (an unknown release: the current one's)."""
    return {signal: value for signal, value in DEFAULT_EVICTION_HARD.items()
            if version is None or version >= EVICTION_DEFAULT_SINCE.get(signal, (0,))}


def parse_eviction_flag(text: str) -> dict[str, str]:
    """--eviction-hard's value: "memory.available<100Mi,nodefs.available<10%" -> {signal: value}."""
    thresholds = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        signal, operator, value = part.partition("<")
        if not operator or not signal.strip() or not value.strip():
            raise ValueError(f"--eviction-hard: {part!r} is not SIGNAL<VALUE")
        thresholds[signal.strip()] = value.strip()
    return thresholds


@dataclass
class Effective:
    """The configuration a kubelet runs with, and where each part of it comes from."""

    config: dict
    sources: list[str]
    origin: dict[str, str] = field(default_factory=dict)           # field -> "in PATH" | "--flag=v (...)"
    eviction_origin: dict[str, str] = field(default_factory=dict)  # signal -> where its threshold was set
    config_file: str | None = None   # the --config file read, None without one
    dropins: list[str] = field(default_factory=list)  # the drop-ins merged, in the kubelet's order

    def source(self, name: str) -> str:
        """Where field name's value comes from, as a phrase: "rotateCertificates: false in PATH"."""
        value = self.config.get(name)
        shown = str(value).lower() if isinstance(value, bool) else value
        where = self.origin.get(name)
        if where is None:
            read = " and ".join(filter(None, (self.config_file, ", ".join(self.dropins))))
            unset = f"unset in {read}" if read else "set by no config file, drop-in or flag"
            return f"{name} {unset} (the kubelet's default is {shown})"
        return where if where.startswith("--") else f"{name}: {shown} {where}"


def _walk_key(path: str, directory: str) -> tuple[str, ...]:
    # filepath.WalkDir visits each directory's entries sorted by name: compare path components.
    return tuple(posixpath.relpath(path, directory).split("/"))


def _merge_patch(target: dict, patch: dict) -> dict:
    """RFC 7386 JSON merge patch (jsonpatch.MergePatch): objects merge, null removes, the rest replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):  # onto a non-object the patch applies to {}
            merged[key] = _merge_patch(merged[key] if isinstance(merged.get(key), dict) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _bool(name: str, value: str) -> bool:
    if value in TRUE or value in FALSE:
        return value in TRUE
    raise ValueError(f"--{name}={value}: not a boolean the kubelet accepts")


def _config_file(facts: NodeFacts, command_line: dict, known: bool) -> str | None:
    """The --config the kubelet reads. Without any known flags (a recording of files alone) the file
    gathered at the kubeadm path is taken as its --config."""
    if known:
        return command_line["config"][-1] if command_line.get("config") else None
    return facts.kubelet.get("config_path") if facts.kubelet_config is not None else None


def resolve(facts: NodeFacts) -> Effective:
    """The configuration the node's kubelet runs with (see the module docstring for the rules).
    ValueError for what the kubelet refuses to start with: a drop-in without its apiVersion/kind or
    not parsing, a flag value it rejects."""
    version = facts.kubelet_version
    command_line, flag_source = flags(facts)
    known = bool(facts.kubelet_running or facts.kubelet.get("configured_flags"))
    path = _config_file(facts, command_line, known)
    result = Effective({}, [], config_file=path)
    if path is not None:
        config = facts.kubelet_config
        if not isinstance(config, dict):
            result.sources.append(f"--config {path} (not gathered or not parsing: read as empty)")
            config = {}
        else:
            result.sources.append(f"--config {path}")
        result.config = config  # facts.kubelet_config is this call's own copy
        result.origin = {name: f"in {path}" for name in config}
        explicit = config.get("evictionHard")
        if not isinstance(explicit, dict):  # loadConfigFile: a nil map becomes DefaultEvictionHard
            result.config["evictionHard"] = defaults(version)
            result.eviction_origin = dict.fromkeys(result.config["evictionHard"], "DefaultEvictionHard")
        else:
            result.config["evictionHard"] = {k: str(v) for k, v in explicit.items()}
            result.eviction_origin = dict.fromkeys(explicit, f"evictionHard in {path}")
            if config.get("mergeDefaultEvictionSettings") is True and (version is None or version >= MERGE_SINCE):
                for signal, value in defaults(version).items():
                    if signal not in explicit:
                        result.config["evictionHard"][signal] = value
                        result.eviction_origin[signal] = "DefaultEvictionHard (mergeDefaultEvictionSettings)"
    elif version is not None and version < CONFIG_FILE_ONLY_DEFAULTS_SINCE:
        result.config["evictionHard"] = defaults(version)
        result.eviction_origin = dict.fromkeys(result.config["evictionHard"], "DefaultEvictionHard")
        result.sources.append(f"no --config file: the built-in defaults of kubelet {version[0]}.{version[1]}")
    else:
        result.sources.append("no --config file: the kubelet's built-in defaults, no evictionHard")
    directory = command_line["config-dir"][-1] if command_line.get("config-dir") else None
    if directory is not None:
        _merge_dropins(facts, directory, result)
    for name, values in command_line.items():
        if name in BOOL_FLAGS:
            result.config[BOOL_FLAGS[name]] = _bool(name, values[-1])
            result.origin[BOOL_FLAGS[name]] = f"--{name}={values[-1]} ({flag_source})"
        elif name in STRING_FLAGS:
            result.config[STRING_FLAGS[name]] = values[-1]
            result.origin[STRING_FLAGS[name]] = f"--{name}={values[-1]} ({flag_source})"
    if "eviction-hard" in command_line:  # the first Set clears the map, the next ones add to it
        result.config["evictionHard"] = {k: v for value in command_line["eviction-hard"]
                                         for k, v in parse_eviction_flag(value).items()}
        result.eviction_origin = dict.fromkeys(result.config["evictionHard"], f"--eviction-hard ({flag_source})")
        result.origin["evictionHard"] = f"--eviction-hard ({flag_source})"
    if known:
        result.sources.append(f"flags: {flag_source}")
    _default(result, version)
    return result


def _merge_dropins(facts: NodeFacts, directory: str, result: Effective) -> None:
    gathered = facts.kubelet.get("dropins")
    if gathered is None:
        result.sources.append(f"--config-dir {directory} (its files were not gathered: not merged)")
        return
    inside = directory.rstrip("/") + "/"
    paths = sorted((p for p in gathered if p.startswith(inside) and p.endswith(DROPIN_SUFFIX)),
                   key=lambda p: _walk_key(p, directory))
    for path in paths:
        dropin = gathered[path]
        if not isinstance(dropin, dict):
            raise ValueError(f"drop-in {path} does not parse as a KubeletConfiguration")
        if (dropin.get("apiVersion"), dropin.get("kind")) != KIND:
            raise ValueError(f"drop-in {path} is not apiVersion {KIND[0]}, kind {KIND[1]} "
                             "(mergeKubeletConfigurations refuses it)")
        patch = {k: v for k, v in dropin.items() if k not in ("apiVersion", "kind")}
        result.config = _merge_patch(result.config, patch)
        for name in patch:
            result.origin[name] = f"in drop-in {path}"
        evictions = patch.get("evictionHard")
        if "evictionHard" in patch and evictions is None:  # null removes the whole map
            result.eviction_origin = {}
        elif isinstance(evictions, dict):
            for signal, value in evictions.items():
                if value is None:
                    result.eviction_origin.pop(signal, None)
                else:
                    result.eviction_origin[signal] = f"evictionHard in drop-in {path}"
        result.dropins.append(path)
    result.sources.append(f"--config-dir {directory}: " + (", ".join(paths) if paths else "no *.conf file"))


def _default(result: Effective, version: tuple[int, ...] | None) -> None:
    """SetDefaults_KubeletConfiguration (pkg/kubelet/apis/config/v1beta1/defaults.go) for the fields
    judged here; the booleans without a defaulting line are Go's false."""
    config = result.config
    config.setdefault("cgroupDriver", "cgroupfs")
    config.setdefault("failCgroupV1", version is None or version >= FAIL_CGROUP_V1_SINCE)
    if version is None or version >= MERGE_SINCE:
        config.setdefault("mergeDefaultEvictionSettings", False)
    for name in ("rotateCertificates", "serverTLSBootstrap", "protectKernelDefaults"):
        config.setdefault(name, False)
    config["evictionHard"] = {k: str(v) for k, v in (config.get("evictionHard") or {}).items()}


def effective_config(facts: NodeFacts) -> tuple[dict, str]:
    """(the KubeletConfiguration fields the node's kubelet runs with, where they come from).

    Fields: whatever the config file and drop-ins set, merged and overridden by the flags as the
    kubelet does, plus, always: evictionHard ({} when the kubelet has no hard threshold; /configz
    then omits it), failCgroupV1, cgroupDriver, rotateCertificates, serverTLSBootstrap,
    protectKernelDefaults, and mergeDefaultEvictionSettings (from 1.33) with the release's defaults.
    /configz omits false booleans (omitempty): compare with .get(field, False).
    ValueError for a configuration the kubelet refuses to start with.
    """
    result = resolve(facts)
    return result.config, "; ".join(result.sources)


def root_dir(facts: NodeFacts) -> str:
    return flag(facts, "root-dir") or DEFAULT_ROOT_DIR


def runtime_endpoint(facts: NodeFacts) -> str | None:
    """containerRuntimeEndpoint in effect (--container-runtime-endpoint, drop-ins, config), or None.
    A configuration the kubelet refuses counts as none set."""
    try:
        return resolve(facts).config.get("containerRuntimeEndpoint")
    except ValueError:
        return None
