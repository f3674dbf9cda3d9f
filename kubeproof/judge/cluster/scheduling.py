"""The scheduler's predicates the cluster judges rely on: label selectors, required node affinity,
taints and tolerations, and which nodes a pod template may land on.

Semantics follow k8s.io/apimachinery (LabelSelector), k8s.io/component-helpers scheduling/corev1
(node selector terms, ToleratesTaint) and the scheduler's TaintToleration filter, which only
considers NoSchedule and NoExecute taints. Resources (requests against allocatable) are counted where
they matter, in rollouts.py.
"""

from __future__ import annotations

from .objects import labels, name

FILTERING_EFFECTS = ("NoSchedule", "NoExecute")  # PreferNoSchedule only lowers a node's score


def _requirement(labels_: dict[str, str], expression: dict) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
    present = key in labels_
    if operator == "In":
        return present and labels_[key] in values
    if operator == "NotIn":
        return not present or labels_[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):  # node selector only: integer comparison with the single value
        try:
            have, want = int(labels_[key]), int(values[0])
        except (KeyError, IndexError, ValueError):
            return False
        return have > want if operator == "Gt" else have < want
    return False  # an operator the API does not know selects nothing


def selector_matches(selector: dict | None, labels_: dict[str, str]) -> bool:
    """A metav1.LabelSelector: None selects nothing, {} everything; matchLabels AND matchExpressions."""
    if selector is None:
        return False
    return (all(labels_.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())
            and all(_requirement(labels_, e) for e in selector.get("matchExpressions") or []))


def _term_matches(term: dict, node: dict) -> bool:
    """A NodeSelectorTerm: its matchExpressions (labels) and matchFields (metadata.name) all hold."""
    fields = {"metadata.name": name(node)}
    return (all(_requirement(labels(node), e) for e in term.get("matchExpressions") or [])
            and all(_requirement(fields, e) for e in term.get("matchFields") or []))


def node_affinity_allows(spec: dict, node: dict) -> bool:
    """nodeSelector and required node affinity (its terms are ORed) admit the node."""
    if not all(labels(node).get(k) == v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Whether any toleration tolerates the taint (an empty key with Exists tolerates every key)."""
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("key") and toleration["key"] != taint.get("key"):
            continue
        if toleration.get("operator") == "Exists" or toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def untolerated_taints(spec: dict, node: dict) -> list[dict]:
    """The node's NoSchedule/NoExecute taints the pod spec does not tolerate."""
    return [taint for taint in (node.get("spec") or {}).get("taints") or []
            if taint.get("effect") in FILTERING_EFFECTS and not tolerates(spec.get("tolerations") or [], taint)]


def eligible_nodes(spec: dict, nodes: list[dict]) -> list[dict]:
    """Nodes a new pod of this spec may be scheduled to, resources aside: schedulable, admitted by
    nodeSelector and required node affinity, and without an untolerated NoSchedule/NoExecute taint."""
    return [node for node in nodes if not (node.get("spec") or {}).get("unschedulable")
            and node_affinity_allows(spec, node) and not untolerated_taints(spec, node)]
