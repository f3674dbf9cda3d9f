"""Podman as kind's node provider: the one engine here whose --privileged containers start.

Docker's `--privileged` asks for every capability, and this machine's bounding set lacks
CAP_SYS_RESOURCE, so Docker refuses; podman grants what the bounding set has. Podman then only
needs ulimits no higher than the current hard ones (raising them needs that same capability), set
for every container kind starts through a containers.conf of the lab's own.
"""

from __future__ import annotations

import resource

from . import pins

CONF = pins.CACHE / "containers.conf"


def env() -> dict[str, str]:
    """The environment under which kind drives podman with the lab's defaults."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = lambda value: "-1" if value == resource.RLIM_INFINITY else str(value)  # noqa: E731
    # nproc: what docs/lab.md measured to start (higher values were refused); the kernel never
    # applies it to root in the initial user namespace, which every process in a node is.
    text = ("[containers]\n"
            f'default_ulimits = ["nofile={limit(nofile)}:{limit(nofile)}", "nproc=4096:4096"]\n')
    CONF.parent.mkdir(parents=True, exist_ok=True)
    if not CONF.exists() or CONF.read_text() != text:
        CONF.write_text(text)
    return {"CONTAINERS_CONF": str(CONF), "KIND_EXPERIMENTAL_PROVIDER": "podman"}
