"""Kernel tunables the ingress controller of 004 raises in a privileged init container.

Its init-sysctl container sets somaxconn 65535, ip_local_port_range "1024 65535", the inotify
limits and fs.file-max (judged with the open-file limits); set on the node, they hold for every pod.
"""

from __future__ import annotations

from ...nodes.facts import NodeFacts
from ..judgement import Findings, Judgement

FAILURE_IDS = ("node-sysctls",)  # the catalog entries this module's judges decide

PORT_RANGE = "net.ipv4.ip_local_port_range"


def tunables(facts: NodeFacts, minimums: dict[str, int], port_range_min: int) -> Judgement:
    """Each sysctl at least its minimum; the local port range at least port_range_min ports wide."""
    found = Findings(("sysctl",), facts)
    found.judged.update(values={}, minimums=dict(minimums, **{f"{PORT_RANGE} ports": port_range_min}),
                        absent=[])
    for key, minimum in sorted(minimums.items()):
        value = facts.sysctl_ints(key)
        if not value:
            found.judged["absent"].append(key)
            continue
        found.judged["values"][key] = value[0]
        if value[0] < minimum:
            found.problems.append(f"{key} {value[0]} < {minimum} minimum (short by {minimum - value[0]})")
    ports = facts.sysctl_ints(PORT_RANGE)
    if ports and len(ports) == 2:
        offered = ports[1] - ports[0] + 1
        found.judged["values"][PORT_RANGE] = f"{ports[0]} {ports[1]} ({offered} ports)"
        if offered < port_range_min:
            found.problems.append(f"{PORT_RANGE} {ports[0]} {ports[1]} offers {offered} ports < "
                                  f"{port_range_min} minimum (short by {port_range_min - offered})")
    else:
        found.judged["absent"].append(PORT_RANGE)
    if not found.judged["values"]:
        return found.nothing("none of the sysctls was gathered: " + ", ".join(found.judged["absent"]))
    return found.verdict()
