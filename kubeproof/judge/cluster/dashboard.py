"""dashboard-exposure: a Kubernetes Dashboard built for the cluster's version, requiring a login, and
not holding cluster-admin (field report 002: 1.6.3 on Kubernetes 1.7 rendered blank; basic auth and
an admin bound to cluster-admin were how it was then made to work).

Only the Dashboard's single-image releases (1.x, 2.x) are recognised; the 7.x Helm chart's split
images (kubernetesui/dashboard-api, -web, -auth) have another login model and are not judged here.
"""

from __future__ import annotations

import re

from ..judgement import Findings, Judgement
from .objects import containers, flags, image_tag, name, namespace, ref, repository_is

FAILURE_IDS = ("dashboard-exposure",)  # the catalog entries this module's judges decide

REPOSITORIES = ("kubernetesui/dashboard", "kubernetes-dashboard-amd64", "kubernetes-dashboard")

# Dashboard minor -> the Kubernetes minors its release marks fully supported (✓); "?" (some features
# may not work) and "✕" count as not fitting. Sources:
#   1.4-1.8: the project's compatibility matrix, kubernetes/dashboard docs/Compatibility-matrix.md
#            (wiki copy at commit 400574d9).
#   2.0-2.7: the "Compatibility" table of each GitHub release page, github.com/kubernetes/dashboard/
#            releases/tag/vX.Y.Z. Corroborated: 2.0 -> 1.18 (hitachienergy/epiphany#1510), 2.4 -> 1.21
#            as its last ✓ and 2.5 -> 1.23 only (kubernetes/dashboard#7067), 2.6 -> 1.24 (#7169),
#            2.7 -> 1.25 and nothing later (#8210, kubernetes-sigs/kubespray#9425). 2.1-2.3 as the
#            release pages give them, not re-checked offline. No release marks 1.22 (#7067) or any
#            Kubernetes after 1.25: the maintainers mark only the version current at release (#7169).
COMPATIBILITY: dict[tuple[int, int], tuple[str, ...]] = {
    (1, 4): ("1.4",), (1, 5): ("1.5",), (1, 6): ("1.6",), (1, 7): ("1.7",), (1, 8): ("1.8", "1.9"),
    (2, 0): ("1.18",), (2, 1): ("1.19",), (2, 2): ("1.20",), (2, 3): ("1.20",), (2, 4): ("1.20", "1.21"),
    (2, 5): ("1.23",), (2, 6): ("1.24",), (2, 7): ("1.25",),
}
ADMIN_ROLE = "cluster-admin"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")


def dashboards(deployments: list[dict]) -> list[tuple[dict, dict]]:
    """(Deployment, its Dashboard container) for every Deployment running a Dashboard image."""
    return [(d, c) for d in deployments for c in containers((d.get("spec") or {}).get("template", {}).get("spec") or {})
            if repository_is(c.get("image", ""), *REPOSITORIES)]


def cluster_minor(version: dict | None, nodes: list[dict]) -> tuple[str | None, str]:
    """The cluster's `major.minor` and where it was read: the API server's /version, else (a kubectl
    dump records none) the newest kubelet, which may trail the API server by up to three minors."""
    for text, source in [((version or {}).get("gitVersion", ""), "the API server's /version")] + sorted(
            (((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""), f"kubelet of {name(n)}")
            for n in nodes)[::-1]:
        found = _VERSION.match(text or "")
        if found:
            return f"{found[1]}.{found[2]}", source
    return None, "unknown"


def exposure(deployments: list[dict], version: dict | None, nodes: list[dict]) -> Judgement:
    """Version fit, skip-login and basic authentication; judged: every Dashboard seen."""
    minor, source = cluster_minor(version, nodes)
    found = Findings()
    seen = found.judged["dashboards"] = []
    found.judged["compatibility_table"] = {f"{a}.{b}": v for (a, b), v in COMPATIBILITY.items()}
    for deployment, container in dashboards(deployments):
        image = container.get("image", "")
        given = flags(container)
        tag = image_tag(image) or ""
        release = _VERSION.match(tag)
        fits = COMPATIBILITY.get((int(release[1]), int(release[2]))) if release else None
        evidence = {"deployment": ref(deployment), "image": image, "args": container.get("args") or [],
                    "cluster": minor, "clusterVersionFrom": source, "fullySupports": fits}
        seen.append(evidence)
        where = f"Dashboard {ref(deployment)} ({image})"
        if release and fits is None:
            found.flag(f"{where}: release {tag} is not in kubeproof's compatibility table "
                                    "(kubeproof/judge/dashboard.py): no published support to rely on", evidence)
        elif release and minor and minor not in fits:
            found.flag(f"{where} is built for Kubernetes {', '.join(fits)}; the cluster runs {minor} "
                                    f"(from {source}): parts of it break (002: a blank page, 404s)", evidence)
        if given.get("enable-skip-login", "false") != "false":
            found.flag(f"{where}: --enable-skip-login lets anyone in with the Dashboard's own "
                                    "service account", evidence)
        if "basic" in given.get("authentication-mode", "").split(","):
            found.flag(f"{where}: --authentication-mode={given['authentication-mode']} accepts "
                                    "basic auth (002); use token or OIDC login", evidence)
    return found.verdict()


def _grants(subject: dict, service_account: str, ns: str) -> bool:
    kind, who = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return who == service_account and subject.get("namespace") == ns
    if kind == "User":
        return who == f"system:serviceaccount:{ns}:{service_account}"
    return kind == "Group" and who in ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated")


def admin_bindings(deployments: list[dict], bindings: list[dict]) -> Judgement:
    """ClusterRoleBindings giving a Dashboard's service account cluster-admin, directly or through a
    group it belongs to; judged: every Dashboard service account seen."""
    found = Findings()
    seen = found.judged["dashboards"] = []
    for deployment, _ in dashboards(deployments):
        spec = deployment["spec"]["template"].get("spec") or {}
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        ns = namespace(deployment)
        seen.append({"deployment": ref(deployment), "serviceAccount": f"{ns}/{account}"})
        for binding in bindings:
            role = binding.get("roleRef") or {}
            matching = [s for s in binding.get("subjects") or [] if _grants(s, account, ns)]
            if role.get("kind") == "ClusterRole" and role.get("name") == ADMIN_ROLE and matching:
                via = ", ".join(f"{s.get('kind')} {s.get('name')}" for s in matching)
                found.flag(
                    f"Dashboard {ref(deployment)} runs as service account {ns}/{account}, which ClusterRoleBinding "
                    f"{name(binding)} makes {ADMIN_ROLE} (through {via}): whoever reaches the Dashboard owns the "
                    "cluster; bind it to a least-privilege role",
                    {"deployment": ref(deployment), "serviceAccount": f"{ns}/{account}",
                     "clusterRoleBinding": name(binding), "roleRef": role, "subjects": matching})
    return found.verdict()
