"""The manifests of kubeproof's CronJob: the two ClusterRoles of kubeproof/rbac/ (read-only audit, probe
pods) and cronjob.yaml (namespace, service account bound to both, CronJob), with the image, probe
image, schedule and gate filled in."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import yaml

from .. import home

TEMPLATE = Path(__file__).with_name("cronjob.yaml")
ROLES = ("audit-readonly.yaml", "node-probe.yaml")


def default_image() -> str:
    """The name `kubeproof image` gives the image of the kubeproof installed here."""
    return f"localhost/kubeproof:{metadata.version('kubeproof')}"


def _with(args: list[str], values: dict[str, str | None]) -> list[str]:
    """args with each `--option=value` of values replaced (None keeps the template's)."""
    def one(arg: str) -> str:
        option = arg.partition("=")[0]
        return f"{option}={values[option]}" if values.get(option) is not None else arg
    return [one(arg) for arg in args]


def render(*, image: str | None = None, probe_image: str | None = None, fail_on: str | None = None,
           schedule: str | None = None, reports_claim: str | None = None) -> str:
    """Every object to apply, as one YAML stream; reports_claim mounts that PersistentVolumeClaim
    at /reports instead of an emptyDir, so each run's reports outlive its pod."""
    roles = [doc for name in ROLES for doc in yaml.safe_load_all((home.PACKAGE / "rbac" / name).read_text())
             if doc["kind"] == "ClusterRole"]  # their bindings name a placeholder user; ours, the service account
    docs = list(yaml.safe_load_all(TEMPLATE.read_text()))
    [cronjob] = [doc for doc in docs if doc["kind"] == "CronJob"]
    cronjob["spec"]["schedule"] = schedule or cronjob["spec"]["schedule"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    container["image"] = image or default_image()
    container["args"] = _with(container["args"], {"--fail-on": fail_on, "--probe-image": probe_image})
    if reports_claim:
        pod["volumes"] = [{"name": "reports", "persistentVolumeClaim": {"claimName": reports_claim}}]
    return yaml.safe_dump_all([*roles, *docs], sort_keys=False)
