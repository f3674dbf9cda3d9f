"""Reading Node (and other) API objects: conditions, taints, whether a pod can be scheduled there."""

from __future__ import annotations


def condition(obj: dict, kind: str) -> str | None:
    """The status ("True", "False", "Unknown") of a condition of an object, None if absent."""
    found = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)
    return found.get("status") if found else None


def unschedulable(node: dict) -> list[str]:
    """Why no pod without tolerations can be scheduled on the node: taints, not Ready; [] when one can."""
    return [f"tainted {t.get('key')}:{t.get('effect')}" for t in (node.get("spec") or {}).get("taints") or []
            if t.get("effect") in ("NoSchedule", "NoExecute")] + ["not Ready"] * (condition(node, "Ready") != "True")


def has_taint(node: dict, key: str) -> bool:
    return any(t.get("key") == key for t in (node.get("spec") or {}).get("taints") or [])
