"""What `kubectl cluster-info dump --all-namespaces -o json|yaml --output-directory DIR` writes, made
from a cluster view: the layout kubeproof reads as a dump (see kubeproof/kube/dump.py)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from kubeproof.kube.kinds import kind_named
from kubeproof.kube.view import ClusterView

# What `kubectl cluster-info dump` writes per namespace, in the order its Run() writes them.
KUBECTL_NAMESPACED = (("events", "events"), ("replication-controllers", None), ("services", "services"),
                      ("daemonsets", "daemonsets.apps"), ("deployments", "deployments.apps"),
                      ("replicasets", "replicasets.apps"), ("pods", "pods"))
KUBECTL_KINDS = {"nodes"} | {name for _, name in KUBECTL_NAMESPACED if name}


def write_kubectl_dump(view: ClusterView, directory: Path, output: str) -> Path:
    """What `kubectl cluster-info dump --all-namespaces -o OUTPUT --output-directory DIR` writes."""
    def typed_list(kind_name: str | None, items: list[dict]) -> dict:
        kind = kind_named(kind_name) if kind_name else None
        return {"kind": f"{kind.kind if kind else 'ReplicationController'}List",
                "apiVersion": kind.api_version if kind else "v1", "metadata": {"resourceVersion": "1234"},
                "items": [{k: v for k, v in item.items() if k not in ("apiVersion", "kind")} for item in items]}

    def put(path: Path, data: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=4) if output == "json" else yaml.safe_dump(data))

    put(directory / f"nodes.{output}", typed_list("nodes", view.list("nodes")))
    for namespace in [ns["metadata"]["name"] for ns in view.list("namespaces")]:
        for stem, kind_name in KUBECTL_NAMESPACED:
            items = [i for i in view.list(kind_name) if i["metadata"]["namespace"] == namespace] if kind_name else []
            put(directory / namespace / f"{stem}.{output}", typed_list(kind_name, items))
        for pod in (p for p in view.list("pods") if p["metadata"]["namespace"] == namespace):
            name = f"{namespace}/{pod['metadata']['name']}"
            logs = directory / namespace / pod["metadata"]["name"] / "logs.txt"
            logs.parent.mkdir()
            logs.write_text(f"==== START logs for container x of pod {name} ====\n"
                            f"==== END logs for container x of pod {name} ====\n")
    return directory
