"""Kernel tunables 004's ingress controller raised in a privileged init container.

004's nginx-ingress controller ran with hostNetwork on ports 80 and 443, so its listen queue
(net.core.somaxconn), its upstream connections' source ports (net.ipv4.ip_local_port_range) and its
files were the node's; under load it needed more than the defaults, and its init-sysctl container set
somaxconn 65535, ports "1024 65535", fs.file-max 1048576 and the inotify limits.

That is a need of such a node, not of every node: a current kernel's defaults (somaxconn 4096 since
5.4, ports 32768-60999, 128 inotify instances) serve an ordinary node, and failing them would be a
false alarm. So the ingress minimums (profile ingress_sysctl_min, ingress_local_port_range_min) apply
where a hostNetwork pod serves port 80 or 443; node-wide minimums (sysctl_min, local_port_range_min)
apply only when the profile chooses them.
"""

from __future__ import annotations

from ...nodes.facts import NodeFacts
from ..judgement import Findings, Judgement

FAILURE_IDS = ("node-sysctls",)  # the catalog entries this module's judges decide

PORT_RANGE = "net.ipv4.ip_local_port_range"
WEB_PORTS = (80, 443)


def edge_proxies(pods: list[dict]) -> list[str]:
    """namespace/name of the hostNetwork pods serving port 80 or 443: ingress controllers on the node's
    own network stack, as 004's."""
    found = []
    for pod in pods:
        spec = pod.get("spec") or {}
        ports = {p.get(key) for c in spec.get("containers") or [] for p in c.get("ports") or []
                 for key in ("containerPort", "hostPort")}
        if spec.get("hostNetwork") and ports & set(WEB_PORTS):
            meta = pod.get("metadata") or {}
            found.append(f"{meta.get('namespace')}/{meta.get('name')}")
    return sorted(found)


def tunables(facts: NodeFacts, minimums: dict[str, int], port_range_min: int, pods: list[dict] | None,
             ingress_minimums: dict[str, int], ingress_port_range_min: int) -> Judgement:
    """Each sysctl at least the minimum that applies to this node, the local port range at least that
    many ports wide. pods: the pods on this node, None when no cluster tells."""
    found = Findings(("sysctl",), facts)
    proxies = edge_proxies(pods or [])
    required = {key: (minimum, "the profile's node-wide minimum") for key, minimum in minimums.items() if minimum}
    port_min = (port_range_min, "the profile's node-wide minimum") if port_range_min else None
    if proxies:
        why = f"hostNetwork ingress pod {', '.join(proxies)}, whose listen queue, ports and files are the node's (004)"
        for key, minimum in ingress_minimums.items():
            if minimum > required.get(key, (0, ""))[0]:
                required[key] = (minimum, why)
        if ingress_port_range_min > (port_min or (0, ""))[0]:
            port_min = (ingress_port_range_min, why)
    found.judged.update(values={}, absent=[], edge_proxies=proxies if pods is not None else
                        "not known: no cluster lists this node's pods",
                        required={k: {"minimum": m, "why": w} for k, (m, w) in required.items()}
                        | ({f"{PORT_RANGE} ports": {"minimum": port_min[0], "why": port_min[1]}} if port_min else {}))
    for key, (minimum, why) in sorted(required.items()):
        value = facts.sysctl_ints(key)
        if not value:
            found.judged["absent"].append(key)
            continue
        found.judged["values"][key] = value[0]
        if value[0] < minimum:
            found.problems.append(f"{key} {value[0]} < {minimum} minimum (short by {minimum - value[0]}) for {why}")
    ports = facts.sysctl_ints(PORT_RANGE)
    if ports and len(ports) == 2:
        offered = ports[1] - ports[0] + 1
        found.judged["values"][PORT_RANGE] = f"{ports[0]} {ports[1]} ({offered} ports)"
        if port_min and offered < port_min[0]:
            found.problems.append(f"{PORT_RANGE} {ports[0]} {ports[1]} offers {offered} ports < {port_min[0]} "
                                  f"minimum (short by {port_min[0] - offered}) for {port_min[1]}")
    elif port_min:
        found.judged["absent"].append(PORT_RANGE)
    if required and not found.judged["values"]:
        return found.nothing("none of the sysctls was gathered: " + ", ".join(found.judged["absent"]))
    return found.verdict()
