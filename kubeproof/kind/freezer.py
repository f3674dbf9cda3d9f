"""Thawing what a killed runc left frozen inside a kind node, on a cgroup v1 host.

runc freezes a container's cgroup while it sets the container's cgroups up or updates them, and
thaws it after. When kind deletes a cluster, the engine kills each node container with everything
in it; a runc inside the node killed in that window leaves its container's cgroup FROZEN, and on
cgroup v1 frozen tasks do not die of SIGKILL: the node container stays "Stopping" for good
(opencontainers/runc#2105; seen here with a pod starting as its node was deleted: `runc init` in
state D, waiting in the freezer's refrigerator). Thawing the node's frozen cgroups lets the kill
finish. cgroup v2's freezer lets SIGKILL through, so there is nothing to do there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

FREEZER = Path("/sys/fs/cgroup/freezer")


def node_cgroups(engine: str, containers: list[str]) -> list[Path]:
    """The freezer cgroups of these running containers ([] on a cgroup v2 host or without them);
    to be read before they stop, while their processes still say where they are."""
    if not containers or not FREEZER.is_dir():
        return []
    pids = subprocess.run([engine, "inspect", "--format", "{{.State.Pid}}", *containers],
                          capture_output=True, text=True, timeout=30).stdout.split()
    cgroups = []
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:  # stopped meanwhile, or pid 0 for a container not running
            continue
        cgroups += [FREEZER / path.lstrip("/") for _, controllers, path in (line.split(":", 2) for line in lines)
                    if "freezer" in controllers.split(",")]
    return cgroups


def thaw(cgroups: list[Path]) -> list[Path]:
    """Thaw every frozen cgroup at or below these; the ones thawed."""
    thawed = []
    for cgroup in cgroups:
        try:
            states = list(cgroup.rglob("freezer.state"))
        except OSError:  # removed while walked: the container is going
            continue
        for state in states:
            try:
                if state.read_text().strip() != "THAWED":
                    state.write_text("THAWED")
                    thawed.append(state.parent)
            except OSError:  # gone meanwhile, or not this user's to write
                continue
    return thawed
