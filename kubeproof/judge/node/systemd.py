"""systemd builds known to hang the container runtime (004: "PLEG is not healthy")."""

from __future__ import annotations

from ...nodes.facts import NodeFacts
from ..judgement import Findings, Judgement

FAILURE_IDS = ("pleg-unhealthy",)  # the catalog entries this module's judges decide

# 004 (and Alibaba Cloud's note it cites): CentOS 7.6's systemd-219-62.el7_6.6 hangs the runtime.
KNOWN_BAD = ("systemd-219-62.el7_6.6",)


def known_bad_build(facts: NodeFacts) -> Judgement:
    found = Findings(("systemd-version", "systemd-package"), facts)
    package, version = facts.systemd_package, facts.systemd_version
    found.judged.update(package=package, version=version, known_bad=list(KNOWN_BAD))
    if package is None and version is None:
        return found.nothing("no systemd on this node (no systemctl, no rpm or dpkg package named systemd)")
    if package is None:
        found.judged["note"] = f"systemd {version} without package information: its build cannot be told"
    for bad in KNOWN_BAD:
        # "systemd-219-62.el7_6.6.x86_64" is the bad build; "...el7_6.60" would not be.
        if package and (package == bad or package.startswith(bad + ".")):
            found.problems.append(f"systemd package {package} is {bad}, the build 004 traced "
                                  f"\"PLEG is not healthy\" to: it hangs the container runtime")
    return found.verdict()
