"""Gather a node's facts in one round trip: gather.sh runs once on the node, Python parses here.

`gather(host, node)` returns a JSON-able dict; `parse(raw_text)` is the pure half, usable on a
recorded gather.sh output. Keys (absent sources give None, {} or [] as shown, never an error):

  schema          1
  node            the node's name as the inventory knows it
  gathered_at     client clock, UTC ISO-8601, when the gathering started; duration_s: its length
  node_time       the node's own clock at that moment ("2024-05-01T10:00:00Z"), or None
  kernel          {release: "5.4.0-42-generic", version: [5, 4, 0] (the dotted numeric prefix),
                   build: /proc/sys/kernel/version, cmdline: str,
                   cmdline_params: {"cgroup.memory": "nokmem", "quiet": None, ...}}
  os              /etc/os-release as {"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": ...}
  hostname        /proc/sys/kernel/hostname
  cgroup          {version: 1 | 2 | None, hybrid: bool (v1 with cgroup2 at /sys/fs/cgroup/unified),
                   mounts: [{mount_point, fstype, options}],
                   controllers: {"memory": {hierarchy, num_cgroups, enabled: bool}, ...} (/proc/cgroups),
                   memory_dirs: {path, count, root} live memory cgroup directories (v1 memory
                     hierarchy, else the v2 tree) and the mount's root in its hierarchy ("/" when
                     the whole hierarchy is visible, None if unknown): compare count with
                     controllers.memory.num_cgroups, which also counts dying cgroups, only when
                     root is "/",
                   stat: {path, nr_descendants, nr_dying_descendants, ...} cgroup.stat of the v2
                     root or the hybrid unified mount, or None,
                   kmem: {"/sys/fs/cgroup/memory/kubepods[.slice]": {usage_in_bytes, limit_in_bytes
                     (int or None), slabinfo: {exists, bytes, rc, error}}} (cgroup v1 only)}
  processes       {"kubelet": [{pid, comm, node_pid_namespace: bool, argv: [str], flags: {name: [values]}
                   (parse_flags of argv), nofile: {soft, hard}, nproc: {soft, hard}}], ...} for the daemons gather.sh looks for (DAEMONS there)
                   that are running. node_pid_namespace is False for a container's processes seen
                   from its host (kube-proxy in a pod, a kind node's kubelet from the kind host).
                   A limit of None means "unlimited". An argv element containing a newline shows
                   up split in two.
  sysctl          {"fs.file-max": "9223372036854775807", "net.ipv4.ip_local_port_range":
                   "32768 60999", ...} as /proc/sys shows them, blanks collapsed; absent ones absent
  sockstat        {"sockets": {"used": 27}, "TCP": {inuse, orphan, tw, alloc, mem}, "TCP6": {...}, ...}
  filesystems     {"/var/lib/kubelet": {device, mount_point, size_bytes, used_bytes, avail_bytes,
                   inodes_total, inodes_used, inodes_free}} for those of /, /var/lib/kubelet,
                   /var/lib/docker, /var/lib/containerd, /var/lib/containers and of the state
                   directories the node's daemons are configured with (kubelet --root-dir, dockerd
                   --data-root/--graph or daemon.json data-root/graph, containerd --root or root,
                   CRI-O root/graphroot) that exist (a value df cannot tell, such as inodes on
                   btrfs, is None)
  kubelet         {pid, argv (of the kubelet in the node's PID namespace; None when not running),
                   version: [1, 32, 4] from `kubelet --version` of the installed binary, or None,
                   flags: {"config": ["/var/lib/kubelet/config.yaml"], ...} (see parse_flags), config_path
                   (--config of the running kubelet, else of its flag files, else /var/lib/kubelet/config.yaml),
                   config: the parsed KubeletConfiguration or None, configured_flags: {file:
                   flags} from kubeadm-flags.env, /etc/default/kubelet, /etc/sysconfig/kubelet and
                   the systemd units and drop-ins (set even while kubelet is down),
                   dropins: {path: parsed KubeletConfiguration or None} of the *.conf files under
                   the --config-dir of the running kubelet, else of its flag files ({} when none;
                   None in facts gathered before drop-ins were read),
                   hostname_override: the running flag, else the last configured one, or None,
                   embedded_in: "k3s-server" | "k3s-agent" when the kubelet runs inside k3s (pid,
                   flags and limits are that process's; flags are those k3s gives its kubelet), else None,
                   kubeconfigs: {path: [{name, client_certificate (a path or None), client_certificate_data,
                   token, exec, auth_provider: bool}]} the users of the kubelet's --kubeconfig and
                   --bootstrap-kubeconfig (None in facts gathered before they were read)}
  certificates    [{path, source: "file" | "kubeconfig", field: None | "client-certificate-data"
                   | "certificate-authority-data", index (position in its file), subject, issuer
                   (RFC 4514), serial (hex), not_before, not_after (UTC ISO-8601), is_ca, sans:
                   ["DNS:kubernetes", "IP:10.96.0.1"], extended_key_usage: ["serverAuth", ...]}]
                   or {path, source, field, index, error} for a block that does not parse.
                   Only certificates ever leave the node, never keys.
  runtime         {docker: {info: {Driver, DriverStatus, DockerRootDir, CgroupDriver, CgroupVersion,
                   ServerVersion} or None, daemon_json: dict or None, root_entries: names under
                   /var/lib/docker or None}, containerd: {config: dict or None,
                   snapshots: {"overlayfs": entries}},
                   crio: {config: /etc/crio/crio.conf as a dict or None, storage_conf: dict or None}}
  systemd         {version: 252 or None, version_line: str or None, package: "systemd-219-62.el7_6.6
                   .x86_64" (rpm -q) or "systemd-252.22-1~deb12u1" (dpkg), or None,
                   units: {path: {section: {key: [values in order]}}} of the containerd, docker and
                   crio units and their drop-ins in systemd's unit directories, and of system.conf
                   and its drop-ins ({} when none; None in facts gathered before they were read)}
  static_pods     {"/etc/kubernetes/manifests/kube-apiserver.yaml": parsed manifest, ...}
  apiserver_auth_configs {path: parsed AuthenticationConfiguration} of the files the manifests'
                  --authentication-config name
  history         {"kernel" | "kubelet" | "runtime": {read: bool, why: str or None (when not read),
                   source: "journal" | "dmesg" (the kernel's ring buffer, where journald keeps no
                   kernel messages: ReadKMsg=no as in kind nodes), readkmsg: its setting (dmesg only),
                   container: "podman" | "docker" | ... for a node in a container, whose kernel log is
                   its host's (kernel only; None otherwise),
                   cap: bytes, truncated: bool (more lines matched than cap bytes: only the newest came),
                   lines: [{at: UTC ISO-8601 or None, line}] newest first, others: [lines that are
                   not log lines, such as journalctl's errors]}}: the lines of the last history_days
                   matching the catalog's patterns for that log (kubelet: also k3s/RKE2's units;
                   runtime: containerd, docker, crio)
  parse_errors    {"kubelet-config /var/lib/kubelet/config.yaml": "message", ...}
  raw             {section: {output: str, rc: int}}: gather.sh's output, the evidence users see
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
import time
import tomllib
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

import testinfra.host
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .. import catalog as catalogs
from .. import profile as profiles
from ..gather_sh import SYSCTLS, TEXT
from ..errors import NodeUnreachable
from ..times import parse_time, stamp
from . import transport

SCHEMA = 1
# gather.sh as it runs: preceded by what it reads from /proc/sys (script() adds the history settings).
SCRIPT = f"SYSCTLS={shlex.quote(' '.join(SYSCTLS))}\n" + TEXT
BEGIN, END = "@@kubeproof-gather 1", "@@kubeproof-gather-end"
DEFAULT_KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"

_SECTION = re.compile(r"^@@kubeproof-section (\S+)\n(.*?)\n@@kubeproof-end \1 rc=(\d+)$", re.S | re.M)
_ITEM = re.compile(r"^@@kubeproof-item (.*)$", re.M)
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----")
_LIMIT = re.compile(r"^Max (open files|processes)\s+(\S+)\s+(\S+)")
_KUBECONFIG_CERT = re.compile(r"^\s*(client-certificate-data|certificate-authority-data):\s*(\S+)")
_HISTORY = re.compile(r"^@@kubeproof-history (.*)$")
_JOURNAL_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:?\d\d) ")  # journalctl -o short-iso
_DMESG_LINE = re.compile(r"^\[\s*(\d+\.\d+)\]")  # seconds since boot
_EKU_NAMES = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}


def script(profile: Mapping | None = None) -> str:
    """gather.sh preceded by what its history sections search: the profile's window (history_days)
    and byte cap (history_max_bytes), and the catalog's patterns of each node log."""
    if profile is None:
        profile = profiles.load()
    catalog = catalogs.load()
    settings = {"HISTORY_DAYS": str(profile["history_days"]), "HISTORY_BYTES": str(profile["history_max_bytes"])}
    for log in catalogs.NODE_LOGS:
        matches = dict.fromkeys(p.match for e in catalog.entries for p in e.patterns_in(log))
        settings[f"HISTORY_{log.upper()}"] = "\n".join(matches)
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in settings.items()) + SCRIPT


def gather(host: testinfra.host.Host, node: str, *, root: str = "/", timeout: float = 120,
           profile: Mapping | None = None) -> dict:
    """Run gather.sh once on host (under `chroot root` unless root is "/") and parse its output."""
    text = script(profile)
    command = text if root == "/" else f"chroot {shlex.quote(root)} /bin/sh -c {shlex.quote(text)}"
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    output = transport.run(host, command, timeout, node=node)
    detail = (output.stderr.strip().splitlines() or [f"exit status {output.rc}"])[0]
    return from_output(node, output.stdout, started=started, duration=time.monotonic() - clock, detail=detail)


def from_output(node: str, output: str, *, started: datetime, duration: float, detail: str = "") -> dict:
    """The facts of gather.sh's whole output (what gather() returns), gathered from started for
    duration seconds. NodeUnreachable when the script did not run through (no /bin/sh, chroot
    failed, killed); detail says why, else the output's first line does."""
    if BEGIN not in output or END not in output:
        detail = detail or next((line for line in output.splitlines() if line.strip()), "no output")
        raise NodeUnreachable(node, f"gathering did not complete: {detail[:300]}")
    facts = parse(output)
    facts.update(node=node, gathered_at=stamp(started), duration_s=round(duration, 3))
    return facts


def parse(raw_text: str) -> dict:
    """Facts from gather.sh's output (see the module docstring for the keys)."""
    # The newline gather.sh prints before each end line is consumed by _SECTION's own "\n".
    raw = {m[1]: {"output": m[2], "rc": int(m[3])} for m in _SECTION.finditer(raw_text)}
    errors: dict[str, str] = {}
    processes = _processes(_out(raw, "processes"))
    kernel_files = {path: "\n".join(lines) for path, lines in _by_file(_out(raw, "kernel")).items()}
    return {
        "schema": SCHEMA,
        "node": None,
        "gathered_at": None,
        "duration_s": None,
        "node_time": _out(raw, "clock").strip() or None,
        "kernel": _kernel(kernel_files),
        "os": _os_release(_out(raw, "os-release")),
        "hostname": kernel_files.get("/proc/sys/kernel/hostname"),
        "cgroup": _cgroup(raw),
        "processes": processes,
        "sysctl": _sysctl(_out(raw, "sysctl")),
        "sockstat": _sockstat(_out(raw, "sockstat")),
        "filesystems": _filesystems(_out(raw, "df")),
        "kubelet": _kubelet(raw, processes.get("kubelet", []) or _k3s_kubelets(processes), errors),
        "certificates": _certificates(raw),
        "runtime": _runtime(raw, errors),
        "systemd": _systemd(raw),
        "static_pods": {path: _load(text, yaml.safe_load, f"static-pods {path}", errors)
                        for path, text in _items(_out(raw, "static-pods")).items()},
        "apiserver_auth_configs": {path: _load(text, yaml.safe_load, f"apiserver-auth-config {path}", errors)
                                   for path, text in _items(_out(raw, "apiserver-auth-config")).items()},
        "history": {log: _history(log, raw.get(f"history-{log}"), _out(raw, "clock").strip())
                    for log in catalogs.NODE_LOGS},
        "parse_errors": errors,
        "raw": raw,
    }


# -- the section format -------------------------------------------------------------------------

def _out(raw: dict, section: str) -> str:
    return raw.get(section, {}).get("output", "")


def _ok(raw: dict, section: str) -> str | None:
    """The section's output if its command succeeded, else None (absent command, file or daemon)."""
    return raw[section]["output"] if raw.get(section, {}).get("rc") == 0 else None


def _items(text: str) -> dict[str, str]:
    """The "@@kubeproof-item KEY" blocks of a section, each without the newline gather.sh adds."""
    parts = _ITEM.split(text)
    return {parts[i]: parts[i + 1].removeprefix("\n").removesuffix("\n") for i in range(1, len(parts), 2)}


def _by_file(text: str) -> dict[str, list[str]]:
    """`grep -H` output as {file: [lines]} (the paths gather.sh greps hold no colon)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        path, sep, rest = line.partition(":")
        if sep:
            found.setdefault(path, []).append(rest)
    return found


def _int(text: str | None) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _load(text: str, loader: Callable[[str], Any], where: str, errors: dict[str, str]) -> Any:
    try:
        return loader(text)
    except Exception as exc:  # any loader's syntax error: recorded, the rest of the facts go on
        errors[where] = " ".join(str(exc).split())[:300]
        return None


# -- the facts ----------------------------------------------------------------------------------

def _kernel(files: dict[str, str]) -> dict:
    release = files.get("/proc/sys/kernel/osrelease")
    cmdline = files.get("/proc/cmdline", "")
    version = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    params = {}
    for word in cmdline.split():
        if word == "--":  # what follows is init's, not the kernel's
            break
        key, sep, value = word.partition("=")
        params[key] = value if sep else None
    return {
        "release": release,
        "version": [int(n) for n in version.groups(0)] if version else None,
        "build": files.get("/proc/sys/kernel/version"),
        "cmdline": cmdline,
        "cmdline_params": params,
    }


def _os_release(text: str) -> dict:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z0-9_]+", key):
            values[key] = _unquote(value)
    return values


def _unquote(value: str) -> str:
    try:
        words = shlex.split(value)
    except ValueError:
        return value
    return words[0] if len(words) == 1 else value


def _cgroup(raw: dict) -> dict:
    mounts = [{"mount_point": f[1], "fstype": f[2], "options": f[3]}
              for f in (line.split() for line in _out(raw, "cgroup-mounts").splitlines()) if len(f) >= 4]
    types = {m["mount_point"]: m["fstype"] for m in mounts}
    version = 2 if types.get("/sys/fs/cgroup") == "cgroup2" else (1 if mounts else None)
    return {
        "version": version,
        "hybrid": version == 1 and types.get("/sys/fs/cgroup/unified") == "cgroup2",
        "mounts": mounts,
        "controllers": _proc_cgroups(_out(raw, "proc-cgroups")),
        "memory_dirs": _memory_dirs(_out(raw, "memory-cgroup-dirs")),
        "stat": _cgroup_stat(_out(raw, "cgroup-stat")),
        "kmem": _kmem(_out(raw, "kmem")),
    }


def _proc_cgroups(text: str) -> dict:
    controllers = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4 and not line.startswith("#"):
            controllers[fields[0]] = {"hierarchy": _int(fields[1]), "num_cgroups": _int(fields[2]),
                                      "enabled": fields[3] == "1"}
    return controllers


def _memory_dirs(text: str) -> dict | None:
    fields = text.split()
    if len(fields) not in (2, 3):  # facts recorded before the mount root was gathered have two
        return None
    root = fields[2] if len(fields) == 3 and fields[2] != "?" else None
    return {"path": fields[0], "count": _int(fields[1]), "root": root}


def _cgroup_stat(text: str) -> dict | None:
    files = _by_file(text)
    # The v2 root's when /sys/fs/cgroup is cgroup2, else the hybrid layout's unified mount.
    path = next((p for p in ("/sys/fs/cgroup/cgroup.stat", "/sys/fs/cgroup/unified/cgroup.stat")
                 if p in files), None)
    if path is None:
        return None
    return {"path": path, **{k: _int(v) for k, _, v in (line.partition(" ") for line in files[path])}}


def _kmem(text: str) -> dict:
    cgroups: dict[str, dict] = {}
    for line in text.splitlines():
        if match := re.match(r"^(\S+) slabinfo (?:absent|bytes=(\d*) rc=(\d+) ?(.*))$", line):
            cgroup = cgroups.setdefault(match[1], {})
            cgroup["slabinfo"] = {"exists": match[3] is not None, "bytes": _int(match[2]),
                                  "rc": _int(match[3]), "error": match[4] or None}
        elif match := re.match(r"^(\S+)/memory\.kmem\.(usage_in_bytes|limit_in_bytes):(.*)$", line):
            cgroups.setdefault(match[1], {})[match[2]] = _int(match[3])
    for cgroup in cgroups.values():
        cgroup.setdefault("usage_in_bytes", None)
        cgroup.setdefault("limit_in_bytes", None)
        cgroup.setdefault("slabinfo", {"exists": False, "bytes": None, "rc": None, "error": None})
    return cgroups


def _processes(text: str) -> dict[str, list[dict]]:
    by_pid: dict[int, dict] = {}
    for line in text.splitlines():
        pid, _, rest = line.partition(" ")
        key, _, value = rest.partition(" ")
        if not pid.isdigit():
            continue
        proc = by_pid.setdefault(int(pid), {"pid": int(pid), "comm": None, "node_pid_namespace": None,
                                            "argv": [],
                                            "nofile": {"soft": None, "hard": None},
                                            "nproc": {"soft": None, "hard": None}})
        if key == "comm":
            proc["comm"] = value
        elif key == "pidns":
            proc["node_pid_namespace"] = value == "node"
        elif key == "argv":
            proc["argv"].append(value)
        elif key == "limit" and (limit := _LIMIT.match(value)):
            # "unlimited" (and anything else not a number) becomes None.
            proc["nofile" if limit[1] == "open files" else "nproc"] = {"soft": _int(limit[2]),
                                                                       "hard": _int(limit[3])}
    found: dict[str, list[dict]] = {}
    for proc in by_pid.values():
        proc["flags"] = parse_flags(proc["argv"][1:])  # parsed here, so judges never parse command lines
        found.setdefault(proc["comm"], []).append(proc)
    return found


def _sysctl(text: str) -> dict[str, str]:
    return {path.replace("/", "."): " ".join(" ".join(lines).split())
            for path, lines in _by_file(text).items()}


def _sockstat(text: str) -> dict[str, dict[str, int | None]]:
    stats = {}
    for lines in _by_file(text).values():
        for line in lines:
            protocol, _, counters = line.partition(":")
            words = counters.split()
            stats[protocol] = {words[i]: _int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
    return stats


def _filesystems(text: str) -> dict[str, dict]:
    found = {}
    for path, block in _items(text).items():
        # Two `df -P` tables (-k, then -i), each a header and one line; error lines have no digits.
        rows = [line.split() for line in block.splitlines() if not line.startswith("Filesystem")]
        rows = [r for r in rows if len(r) >= 6 and (r[1].isdigit() or r[1] == "-")]
        if len(rows) != 2:
            continue
        (device, size, used, avail, *_), inodes = rows
        kib = [_int(v) for v in (size, used, avail)]
        found[path] = {
            "device": device, "mount_point": " ".join(rows[0][5:]),
            **{key: v * 1024 if v is not None else None
               for key, v in zip(("size_bytes", "used_bytes", "avail_bytes"), kib)},
            **dict(zip(("inodes_total", "inodes_used", "inodes_free"), map(_int, inodes[1:4]))),
        }
    return found


def parse_flags(argv: list[str]) -> dict[str, list[str]]:
    """Command-line flags as {name without dashes: [values in order]}.

    Understands --key=value and --key value (a following word that does not start with "-" is the
    value), and repeated flags. A flag given without a value gets "true", as pflag's booleans do.
    Words that are not flags (the program, positional arguments) are skipped.
    """
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if not word.startswith("-") or word.strip("-") == "":
            continue
        name, sep, value = word.lstrip("-").partition("=")
        if not sep:
            if i < len(argv) and not argv[i].startswith("-"):
                value, i = argv[i], i + 1
            else:
                value = "true"
        flags.setdefault(name, []).append(value)
    return flags


def _flags_in_file(text: str) -> dict[str, list[str]]:
    # Best effort over env files and systemd units: KUBELET_ARGS="--a=b --c d", Environment="X=--e=f".
    words = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for word in line.replace('"', " ").replace("'", " ").split():
            start = word.find("=--")
            words.append(word[start + 1:] if start >= 0 else word)
    return parse_flags([w for w in words if not w.startswith("$")])


K3S_KUBELET_HOSTS = ("k3s-server", "k3s-agent")


def _k3s_kubelets(processes: dict[str, list[dict]]) -> list[dict]:
    """k3s processes standing as the kubelet they run inside, with the flags k3s gives it
    (kubeletArgsAndConfig in pkg/daemons/agent: --config-dir and --kubeconfig under its data
    directory, --read-only-port=0), then the operator's --kubelet-arg values, which k3s appends."""
    found = []
    for proc in (p for comm in K3S_KUBELET_HOSTS for p in processes.get(comm, [])):
        agent = ((proc["flags"].get("data-dir") or proc["flags"].get("d") or ["/var/lib/rancher/k3s"])[-1]
                 + "/agent")
        flags = {"config-dir": [f"{agent}/etc/kubelet.conf.d"], "kubeconfig": [f"{agent}/kubelet.kubeconfig"],
                 "read-only-port": ["0"]}
        for name, values in parse_flags([f"--{a}" for a in proc["flags"].get("kubelet-arg", [])]).items():
            flags.setdefault(name, []).extend(values)
        found.append({**proc, "flags": flags, "embedded_in": proc["comm"]})
    return found


def _kubeconfig_users(text: str) -> list[dict]:
    """kubelet-kubeconfig's lines of one file (gather.sh kubeconfig_users) as its users."""
    users: list[dict] = []
    for line in text.splitlines():
        key, _, value = line.strip().lstrip("- ").partition(":")
        value = value.strip()
        if key == "name":
            users.append({"name": value, "client_certificate": None, "client_certificate_data": False,
                          "token": False, "exec": False, "auth_provider": False})
        elif users and key == "client-certificate":
            users[-1]["client_certificate"] = value
        elif users and key in ("client-certificate-data", "token", "tokenFile", "exec", "auth-provider"):
            users[-1]["token" if key == "tokenFile" else key.replace("-", "_")] = True
    return users


def _kubelet(raw: dict, running: list[dict], errors: dict[str, str]) -> dict:
    # A kubelet in another PID namespace belongs to a node nested in this one (kind), not to it.
    proc = next((p for p in running if p["node_pid_namespace"]), None)
    flags = proc["flags"] if proc else {}
    configured = {path: _flags_in_file(text) for path, text in _items(_out(raw, "kubelet-env")).items()}
    # The running kubelet's flags are the truth; the files only tell while it is down.
    in_force = [flags] if proc else [configured[path] for path in sorted(configured)]
    override = [f["hostname-override"][-1] for f in in_force if "hostname-override" in f]
    config_path = ([f["config"][-1] for f in in_force if "config" in f] or [DEFAULT_KUBELET_CONFIG])[-1]
    config = _items(_out(raw, "kubelet-config")).get(config_path)
    dropins = {path: _load(text, yaml.safe_load, f"kubelet-config-dir {path}", errors)
               for path, text in _items(_out(raw, "kubelet-config-dir")).items()}
    version = re.search(r"v(\d+)\.(\d+)\.(\d+)", _ok(raw, "kubelet-version") or "")
    return {
        "pid": proc["pid"] if proc else None,
        "argv": proc["argv"] if proc else None,
        "version": [int(n) for n in version.groups()] if version else None,
        "flags": flags,
        "config_path": config_path,
        "config": (_load(config, yaml.safe_load, f"kubelet-config {config_path}", errors)
                   if config is not None else None),
        "configured_flags": configured,
        "dropins": dropins if "kubelet-config-dir" in raw else None,
        "hostname_override": override[-1] if override else None,
        "embedded_in": proc.get("embedded_in") if proc else None,
        "kubeconfigs": ({path: _kubeconfig_users(text)
                         for path, text in _items(_out(raw, "kubelet-kubeconfig")).items()}
                        if "kubelet-kubeconfig" in raw else None),
    }


def _certificates(raw: dict) -> list[dict]:
    certs = []
    for path, text in _items(_out(raw, "certificates")).items():
        certs += [_certificate(pem, path=path, source="file", field=None, index=i)
                  for i, pem in enumerate(_pems(text))]
    for path, lines in _by_file(_out(raw, "kubeconfig-certificates")).items():
        fields = [(m[1], pem) for m in map(_KUBECONFIG_CERT.match, lines) if m
                  for pem in _pems(_unbase64(m[2]))]
        certs += [_certificate(pem, path=path, source="kubeconfig", field=field, index=i)
                  for i, (field, pem) in enumerate(fields)]
    return certs


def _pems(text: str) -> list[str]:
    # A file or field without any certificate block (DER, garbage) yields one entry with an error
    # rather than silently none: an unreadable certificate must not pass an expiry check.
    return _PEM.findall(text) or [text]


def _unbase64(data: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _certificate(pem: str, **where: Any) -> dict:
    try:
        return {**where, **_describe(x509.load_pem_x509_certificate(pem.encode()))}
    except ValueError as exc:
        return {**where, "error": " ".join(str(exc).split())[:300]}


def _describe(cert: x509.Certificate) -> dict:
    def extension(kind):
        try:
            return cert.extensions.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None

    constraints = extension(x509.BasicConstraints)
    sans = extension(x509.SubjectAlternativeName)
    usages = extension(x509.ExtendedKeyUsage)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": stamp(cert.not_valid_before_utc, "auto"),
        "not_after": stamp(cert.not_valid_after_utc, "auto"),
        "is_ca": bool(constraints and constraints.ca),
        "sans": ([f"DNS:{n}" for n in sans.get_values_for_type(x509.DNSName)]
                 + [f"IP:{n}" for n in sans.get_values_for_type(x509.IPAddress)]) if sans else [],
        "extended_key_usage": [_EKU_NAMES.get(u, u.dotted_string) for u in usages] if usages else [],
    }


def _runtime(raw: dict, errors: dict[str, str]) -> dict:
    files = _items(_out(raw, "runtime-config"))

    def config(path: str, loader: Callable[[str], Any]) -> Any:
        return _load(files[path], loader, f"runtime-config {path}", errors) if path in files else None

    containerd = config("/etc/containerd/config.toml", tomllib.loads)
    info, root = _ok(raw, "docker-info"), _ok(raw, "docker-root")
    return {
        "docker": {
            "info": _load(info, json.loads, "docker-info", errors) if info is not None else None,
            "daemon_json": config("/etc/docker/daemon.json", json.loads),
            "root_entries": root.split() if root is not None else None,
        },
        "containerd": {
            "config": containerd,
            "snapshots": {name.removeprefix("io.containerd.snapshotter.v1."): _int(count)
                          for name, _, count in (line.partition(" ") for line in
                                                 _out(raw, "containerd-snapshots").splitlines())},
        },
        "crio": {"config": config("/etc/crio/crio.conf", tomllib.loads),
                 "storage_conf": config("/etc/containers/storage.conf", tomllib.loads)},
    }


# A node log as facts recorded before kubeproof read logs show it.
UNREAD_LOG = {"read": False, "why": "not gathered (facts recorded before kubeproof read logs)", "source": None,
              "readkmsg": None, "container": None, "cap": None, "truncated": False, "lines": [], "others": []}


def _history(name: str, section: dict | None, node_time: str) -> dict:
    log = {**UNREAD_LOG, "lines": [], "others": []}  # lists of its own, not the constant's
    if section is None:
        return log
    header, _, body = section["output"].partition("\n")
    settings = _HISTORY.match(header)
    if settings is None:
        why = ("no journalctl" + " or dmesg" * (name == "kernel") + " on the node" if section["rc"] == 127
               else " ".join(section["output"].split())[:300] or "no pattern looks in this log")
        return {**log, "why": why}
    fields = dict(word.partition("=")[::2] for word in settings[1].split())
    cap = int(fields["cap"])
    lines = body.splitlines()
    truncated = len(body.encode()) >= cap > 0
    dmesg = fields["source"] == "dmesg"
    if truncated:  # head -c / tail -c cut the oldest line kept: journal lines come newest first
        lines = lines[1:] if dmesg else lines[:-1]
    if dmesg:  # dmesg prints the oldest first; newest first, as journalctl --reverse
        lines.reverse()
    boot = None
    if dmesg and node_time and re.fullmatch(r"\d+(\.\d+)?", fields.get("uptime", "")):
        boot = parse_time(node_time) - timedelta(seconds=float(fields["uptime"]))
    found, others = [], []
    for line in lines:
        if match := _JOURNAL_LINE.match(line):
            found.append({"at": stamp(parse_time(match[1])), "line": line})
        elif dmesg:
            since_boot = _DMESG_LINE.match(line)
            at = boot + timedelta(seconds=float(since_boot[1])) if since_boot and boot else None
            found.append({"at": stamp(at, "auto"), "line": line})
        elif line.strip():
            others.append(line)
    container = fields.get("container")
    return {**log, "read": True, "why": None, "source": fields["source"], "readkmsg": fields.get("readkmsg"),
            "container": container if container not in (None, "none") else None, "cap": cap,
            "truncated": truncated, "lines": found, "others": others}


def _systemd(raw: dict) -> dict:
    line = (_ok(raw, "systemd-version") or "").partition("\n")[0]
    version = re.match(r"systemd (\d+)", line)
    return {
        "version": int(version[1]) if version else None,
        "version_line": line or None,
        "package": (_ok(raw, "systemd-package") or "").strip() or None,
        "units": ({path: _unit(text) for path, text in _items(_out(raw, "runtime-units")).items()}
                  if "runtime-units" in raw else None),
    }


def _unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit or configuration file as {section: {key: [values in order]}}."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = sections.setdefault("", {})
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return {name: keys for name, keys in sections.items() if keys}
