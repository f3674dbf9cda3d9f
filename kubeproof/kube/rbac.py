"""ClusterRole rules read from a manifest and matched as the apiserver's RBAC authorizer does.

Used by the replay server to answer 403 for anything a role does not grant, so a selftest can prove
that an audit under exactly kubeproof/rbac/audit-readonly.yaml never needs more. The matching
follows k8s.io/kubernetes/pkg/apis/rbac/v1/evaluation_helpers.go: a rule allows a request when its
verbs, apiGroups and resources (or, for a path outside the API, its nonResourceURLs) all match;
"*" matches anything; a nonResourceURL ending in "*" matches by prefix; resourceNames, when set,
restrict the rule to those names (so a LIST, which has no name, is never allowed by it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import KubeproofError
from .client import RequestInfo

ANY = "*"


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    api_groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    resource_names: frozenset[str] = frozenset()
    non_resource_urls: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, rule: dict) -> "Rule":
        def field(key: str) -> frozenset[str]:
            return frozenset(str(value) for value in rule.get(key) or [])
        return cls(field("verbs"), field("apiGroups"), field("resources"), field("resourceNames"),
                   field("nonResourceURLs"))

    def allows(self, info: RequestInfo, path: str) -> bool:
        if not self.verbs & {info.verb, ANY}:
            return False
        if not info.resource:
            return any(url == path or (url.endswith(ANY) and path.startswith(url[:-1]))
                       for url in self.non_resource_urls)
        plural, _, group = info.resource.partition(".")
        resource = f"{plural}/{info.subresource}" if info.subresource else plural
        return (bool(self.api_groups & {group, ANY}) and bool(self.resources & {resource, ANY})
                and (not self.resource_names or info.name in self.resource_names))


@dataclass(frozen=True)
class ClusterRole:
    name: str
    rules: tuple[Rule, ...]

    def allows(self, info: RequestInfo, path: str) -> bool:
        return any(rule.allows(info, path) for rule in self.rules)

    def granted(self) -> set[tuple[str, str, str]]:
        """Every (apiGroup, resource, verb) the role's resource rules name, wildcards as written."""
        return {(group, resource, verb) for rule in self.rules for group in rule.api_groups
                for resource in rule.resources for verb in rule.verbs}


def cluster_role(manifest: str | Path, name: str) -> ClusterRole:
    """The ClusterRole called name in a (multi-document) YAML manifest."""
    try:
        documents = list(yaml.safe_load_all(Path(manifest).read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise KubeproofError(f"cannot read RBAC manifest {manifest}: {' '.join(str(exc).split())}") from None
    for document in documents:
        if (document or {}).get("kind") == "ClusterRole" and document["metadata"]["name"] == name:
            return ClusterRole(name, tuple(Rule.parse(rule) for rule in document.get("rules") or []))
    raise KubeproofError(f"RBAC manifest {manifest} has no ClusterRole {name}")
