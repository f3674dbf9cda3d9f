"""Cluster dumps on disk: kubeproof's own format (read and written) and `kubectl cluster-info dump`.

kubeproof's format, one directory:

    kubeproof-dump.json        format version, source context, server version, created (the
                               view's now()), kinds, the API server's serving certificate chain
    <kind.name>.json           {"apiVersion": "v1", "kind": "List", "items": [...]}, one per kind
    nodes-facts/<node>.json    node facts gathered beside the objects

Secrets are written as the view holds them, without their private keys and tokens (see
redaction.py), so a dump can be attached to an issue or committed as a test fixture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ..errors import KubeproofError, Unavailable
from ..times import parse_time, stamp
from .kinds import BY_NAME, KINDS, Kind, kind_named
from .serving import ServingCertificate

METADATA_FILE = "kubeproof-dump.json"
FORMAT = "kubeproof-dump"
FORMAT_VERSION = 1
FACTS_DIR = "nodes-facts"

# `kubectl cluster-info dump --output-directory DIR` layout, as written by kubectl's
# staging/src/k8s.io/kubectl/pkg/cmd/clusterinfo/clusterinfo_dump.go (Run):
#   DIR/nodes.<ext>                          the NodeList
#   DIR/<ns>/{events,replication-controllers,services,daemonsets,deployments,replicasets,pods}.<ext>
#   DIR/<ns>/<pod>/logs.txt                  container logs (ignored here)
# <ext> is .json for the default -o json and .yaml for -o yaml. The namespaces are the directory
# names only: no Namespace objects are written. Each file is one typed list printed by kubectl's
# printer (kind "PodList", apiVersion "v1") whose items, as the apiserver returns them in a list,
# carry no apiVersion/kind. Files are matched to kinds by plural, so a namespaces.json or
# configmaps.json added beside them by hand is read too; replication-controllers is not a kind here.
KUBECTL_EXTENSIONS = (".json", ".yaml")
_BY_PLURAL = {k.plural: k for k in KINDS if not k.optional}  # a CRD's plural may shadow a core one


def storage_key(item: dict) -> str:
    """The object's etcd key below its resource prefix: LISTs return items sorted by it."""
    meta = item.get("metadata") or {}
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta.get("name", "")


def _load(path: Path):
    """The file's data; KubeproofError naming the file and the byte offset where it stops making sense."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        if path.suffix == ".yaml":
            return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return json.loads(text)
    except OSError as exc:
        raise KubeproofError(f"cannot read dump file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise KubeproofError(f"dump file {path} is corrupt at byte {exc.start}: not UTF-8") from None
    except (ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = exc.pos if isinstance(exc, json.JSONDecodeError) else mark.index if mark else None
        where = f" at byte {len(text[:at].encode())}" if at is not None else ""
        reason = getattr(exc, "msg", None) or getattr(exc, "problem", None) or exc
        raise KubeproofError(f"dump file {path} is corrupt{where} (of {len(raw)}): "
                             f"{' '.join(str(reason).split())}") from None


def _items_of(path: Path, kind: Kind) -> list[dict]:
    """The items of one List file, each checked to be an object of the kind the file claims."""
    data = _load(path)
    # kubectl cluster-info dump writes an empty list as "items": null (Go's nil slice).
    if not isinstance(data, dict) or not isinstance(data.get("items", ()), (list, type(None))):
        raise KubeproofError(f"dump file {path} is not a Kubernetes List (no items)")
    if data.get("kind") not in ("List", f"{kind.kind}List"):
        raise KubeproofError(f"dump file {path} holds a {data.get('kind')!r}, not a List of {kind.kind}")
    items = data["items"] or []
    for number, item in enumerate(items):
        # A List's items may omit apiVersion and kind (kubectl prints them so), never claim another.
        if not (isinstance(item, dict) and isinstance(item.get("metadata"), dict)
                and isinstance(item["metadata"].get("name"), str) and item.get("kind", kind.kind) == kind.kind):
            raise KubeproofError(f"dump file {path}: item {number} is not a {kind.kind} with a name")
    return items


@dataclass
class Dump:
    """A dump directory opened for reading: which files hold each kind, and what is known about it."""

    directory: Path
    description: str
    files: dict[str, list[Path]]  # kind name -> its list files, read in this order
    context: str | None = None
    version: dict | None = None
    missing_why: dict[str, str] = field(default_factory=dict)  # kind name -> why it was not dumped
    created: datetime | None = None  # None for a kubectl dump, which does not record it
    serving: dict | None = None  # ServingCertificate.as_dict(), or {"unavailable": why}

    def items(self, kind: Kind) -> list[dict]:
        if kind.name not in self.files:
            why = self.missing_why.get(kind.name)
            raise Unavailable(f"the dump {self.directory} does not contain {kind.name}"
                              + (f" ({why} when it was written)" if why else ""))
        return [item for path in self.files[kind.name] for item in _items_of(path, kind)]

    def check(self) -> None:
        """Read every file once, so a corrupt one stops the run before any test: half a dump is
        never judged. KubeproofError names the first bad file."""
        for name, paths in self.files.items():
            for path in paths:
                _items_of(path, kind_named(name))
        if self.files.get("nodes"):
            self.now()
        for path in node_fact_files(self.directory).values():  # one at a time: 5,000 nodes' facts are GiBs
            read_node_fact_file(path)

    def now(self) -> datetime:
        """When the dump was taken: recorded by kubeproof; for a kubectl dump the newest Node
        heartbeat (kubelets post their status at least every 5 minutes), else the nodes file's mtime.
        """
        if self.created:
            return self.created
        try:
            beats = [parse_time(c["lastHeartbeatTime"]) for node in self.items(kind_named("nodes"))
                     for c in (node.get("status") or {}).get("conditions") or [] if c.get("lastHeartbeatTime")]
        except (AttributeError, TypeError, ValueError) as exc:
            raise KubeproofError(f"the dump {self.directory} has a Node whose status conditions or "
                                 f"lastHeartbeatTime are not what the API writes: {exc}") from None
        written = datetime.fromtimestamp(self.files["nodes"][0].stat().st_mtime, timezone.utc)
        return max(beats, default=written)

    def serving_certificate(self) -> ServingCertificate:
        if self.serving is None:
            raise Unavailable(f"the dump {self.directory} does not record the API server's serving "
                              "certificate (kubectl cluster-info dump and older kubeproof dumps do not)")
        if "unavailable" in self.serving:
            raise Unavailable(f"the dump {self.directory} holds no serving certificate "
                              f"({self.serving['unavailable']} when it was written)")
        return ServingCertificate.from_dict(self.serving)


# The description's fields and the types a dump kubeproof wrote gives them.
_META_TYPES = {"formatVersion": int, "context": (str, type(None)), "created": str, "kinds": list,
               "unavailable": (dict, type(None)), "servingCertificate": (dict, type(None))}


def _open_kubeproof(directory: Path) -> Dump:
    path = directory / METADATA_FILE
    meta = _load(path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise KubeproofError(f"{path} is not a kubeproof dump description")
    wrong = [key for key, types in _META_TYPES.items() if not isinstance(meta.get(key), types)]
    unknown = [name for name in meta.get("kinds") or [] if name not in BY_NAME]
    if wrong or unknown:
        raise KubeproofError(f"{path} is corrupt: " + ", ".join(
            [f"{key} is {type(meta.get(key)).__name__}" for key in wrong] + [f"unknown kind {n!r}" for n in unknown]))
    if meta["formatVersion"] > FORMAT_VERSION:
        raise KubeproofError(f"the dump {directory} has format version {meta['formatVersion']}; "
                             f"this kubeproof reads up to {FORMAT_VERSION}: upgrade kubeproof")
    try:
        created = parse_time(meta["created"])
    except ValueError:
        created = None
    if created is None:
        raise KubeproofError(f"{path} is corrupt: created {meta['created']!r} is not a time") from None
    of = f" of context {meta['context']}" if meta.get("context") else ""
    return Dump(directory, f"dump {directory} (kubeproof{of}, {meta['created']})",
                {name: [directory / f"{name}.json"] for name in meta["kinds"]},
                context=meta["context"], version=meta.get("serverVersion"),
                missing_why=meta["unavailable"] or {}, created=created,
                serving=meta["servingCertificate"])


def _kubectl_files(directory: Path, extension: str) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for kind in _BY_PLURAL.values():
        if kind.namespaced:
            # Sorted namespace directories give the cluster-wide LIST's order (etcd key order).
            found = sorted(directory.glob(f"*/{kind.plural}{extension}"))
        else:
            found = [p for p in [directory / f"{kind.plural}{extension}"] if p.is_file()]
        if found:
            files[kind.name] = found
    return files


def open_dump(directory: str | Path) -> Dump:
    """Open a kubeproof dump or a `kubectl cluster-info dump` directory, whichever it is."""
    directory = Path(directory)
    if (directory / METADATA_FILE).is_file():
        return _open_kubeproof(directory)
    for extension in KUBECTL_EXTENSIONS:
        if (directory / f"nodes{extension}").is_file():
            return Dump(directory, f"dump {directory} (kubectl cluster-info dump)",
                        _kubectl_files(directory, extension))
    raise KubeproofError(f"{directory} is neither a kubeproof dump (no {METADATA_FILE}) nor a "
                         "`kubectl cluster-info dump --output-directory` (no nodes.json or nodes.yaml)")


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def write_dump(view, directory: str | Path, *, node_facts: dict[str, dict] | None = None,
               context: str | None = None) -> Path:
    """Write every kind the view can list, as it holds them, in kubeproof's format; returns the directory.

    The dump is the view at its now(): a generator of committed fixtures fixes it for a
    byte-identical regeneration.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / METADATA_FILE).unlink(missing_ok=True)  # see below: it marks a complete dump
    kinds, unavailable = [], {}
    for kind in KINDS:
        try:
            items = view.list(kind.name)
        except Unavailable as exc:
            unavailable[kind.name] = str(exc)
            continue
        _write_json(directory / f"{kind.name}.json",
                    {"apiVersion": "v1", "kind": "List", "items": sorted(items, key=storage_key)})
        kinds.append(kind.name)
    try:
        serving = view.serving_certificate().as_dict()
    except Unavailable as exc:
        serving = {"unavailable": str(exc)}
    if node_facts:
        (directory / FACTS_DIR).mkdir(exist_ok=True)
        for node, facts in node_facts.items():
            _write_json(directory / FACTS_DIR / f"{node}.json", facts)
    # Written last: a dump interrupted half-way has no description and is not mistaken for whole.
    _write_json(directory / METADATA_FILE, {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "context": context or view.context,
        "serverVersion": view.version(),
        "created": stamp(view.now()),
        "kinds": kinds,
        "unavailable": unavailable,
        "servingCertificate": serving,
    })
    return directory


def node_fact_files(directory: str | Path) -> dict[str, Path]:
    """The files of node facts in a kubeproof dump, by node name ({} when it has none)."""
    return {path.stem: path for path in sorted((Path(directory) / FACTS_DIR).glob("*.json"))}


def read_node_fact_file(path: Path) -> dict:
    """One node's facts; KubeproofError when the file is not a JSON object."""
    data = _load(path)
    if not isinstance(data, dict):
        raise KubeproofError(f"dump file {path} holds no node facts (not a JSON object)")
    return data
