"""The node's hostname against the name it is registered under.

001 §5: four nodes' hostnames were changed in place; calico, which keys its per-node state by
hostname, registered four new nodes beside the old ones and pod networking on them died.

The kubelet registers as its --hostname-override, else its hostname, lowercased. The name it is
registered under is, in order of authority:
  1. the Kubernetes Node object's name, when there is a cluster;
  2. the CN system:node:<name> of the kubelet's client certificate: the API server authenticates
     the kubelet as that node, so this is its registered identity even with no cluster at hand;
  3. the name the node was reached by (a kind node container, an ssh host), when it is a name:
     not an address, and not taken from the hostname itself (local://), which would compare the
     hostname with itself.
Without any of them nothing is compared and the test skips.
"""

from __future__ import annotations

import ipaddress
import urllib.parse

from ...nodes.facts import NodeFacts
from . import certs, kubelet
from ..cluster.node_registrations import NOT_VISIBLE
from ..judgement import Findings, Judgement

FAILURE_IDS = ("hostname-drift",)  # the catalog entries this module's judges decide

SECTIONS = ("kernel", "processes", "kubelet-env", "certificates", "kubeconfig-certificates")


def reached_by(access: str) -> str | None:
    """The node name in a host URL when it is an independent name, else None."""
    parsed = urllib.parse.urlsplit(access)
    if parsed.scheme not in ("docker", "ssh", "kubectl"):
        return None  # local:// (named from the hostname), pod probes, dumps
    host = parsed.hostname or ""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        return host or None


def drift(facts: NodeFacts, *, node_object_name: str | None, access: str) -> Judgement:
    """The kubelet would register under the name the node is registered as."""
    found = Findings(SECTIONS, facts)
    if node_object_name is None and not kubelet.present(facts):
        return found.nothing(kubelet.ABSENT)
    if facts.hostname is None:
        return found.nothing("the node's hostname was not gathered")
    override = facts.kubelet.get("hostname_override")
    expected = (override or facts.hostname).strip().lower()
    if node_object_name is not None:
        registered, source = node_object_name, "the Kubernetes Node object"
    elif identity := certs.kubelet_identity(facts):
        registered, source = identity
    elif name := reached_by(access):
        registered, source = name, f"the name the node was reached by ({access})"
    else:
        return found.nothing("no registered name to compare the hostname with: no Node object, no "
                             "kubelet client certificate (CN system:node:<name>) under "
                             f"/var/lib/kubelet/pki, and the node was reached as {access}")
    found.judged.update(hostname=facts.hostname, hostname_override=override, kubelet_would_register=expected,
                        registered=registered, registered_from=source, not_visible=NOT_VISIBLE)
    if expected != registered:
        what = (f"kubelet --hostname-override={override}" if override
                else f"hostname {facts.hostname}")
        found.problems.append(f"{what} != registered node name {registered} (from {source}): the kubelet "
                              f"and calico would register it as a new node beside the old one")
    return found.verdict()
