"""The resource kinds cluster assertions read: each listed once per session, paginated."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import KubeproofError


@dataclass(frozen=True)
class Kind:
    plural: str
    kind: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True
    optional: bool = False  # a CRD or aggregated API that may not be installed: absent, not an error

    @property
    def name(self) -> str:
        """Stable key, also the dump file stem: `pods`, `daemonsets.apps`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_path(self) -> str:
        """Cluster-wide list path (all namespaces)."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{prefix}/{self.plural}"


KINDS: tuple[Kind, ...] = (
    Kind("nodes", "Node", namespaced=False),
    Kind("namespaces", "Namespace", namespaced=False),
    Kind("pods", "Pod"),
    Kind("events", "Event"),
    Kind("services", "Service"),
    Kind("endpoints", "Endpoints"),
    Kind("endpointslices", "EndpointSlice", group="discovery.k8s.io"),  # what kube-proxy reads since 1.21
    Kind("secrets", "Secret"),
    Kind("configmaps", "ConfigMap"),
    Kind("daemonsets", "DaemonSet", group="apps"),
    Kind("deployments", "Deployment", group="apps"),
    Kind("replicasets", "ReplicaSet", group="apps"),
    Kind("ingresses", "Ingress", group="networking.k8s.io"),
    Kind("priorityclasses", "PriorityClass", group="scheduling.k8s.io", namespaced=False),
    Kind("clusterrolebindings", "ClusterRoleBinding", group="rbac.authorization.k8s.io", namespaced=False),
    Kind("mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
         group="admissionregistration.k8s.io", namespaced=False),
    Kind("validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
         group="admissionregistration.k8s.io", namespaced=False),
    Kind("apiservices", "APIService", group="apiregistration.k8s.io", namespaced=False),
    # Calico's per-node network state (field report 001 §5: a renamed host left its old record
    # behind). With the Kubernetes datastore, calico's Node *is* the Kubernetes Node; what stays
    # keyed by node name in calico's own CRDs are the IPAM block affinities. Only present with
    # calico IPAM.
    Kind("blockaffinities", "BlockAffinity", group="crd.projectcalico.org", namespaced=False, optional=True),
)

BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
_BY_TYPE: dict[tuple[str, str], Kind] = {(k.api_version, k.kind): k for k in KINDS}


def kind_named(name: str) -> Kind:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown resource kind {name!r}; known: {', '.join(BY_NAME)}") from None


def kind_of(obj: dict) -> Kind:
    """The kind of an API object, by its apiVersion and kind; KubeproofError for one kubeproof does not read."""
    try:
        return _BY_TYPE[obj.get("apiVersion"), obj.get("kind")]
    except KeyError:
        raise KubeproofError(f"{obj.get('apiVersion')} {obj.get('kind')} is not a kind kubeproof reads") from None
