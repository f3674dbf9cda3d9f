"""Binaries from pinned sources: Kubernetes, etcd, coredns, containerd, runc, the CNI plugins, crictl
and kind with Go; pause with gcc.

A binary is rebuilt only when its recipe changes (go.mod, go.sum, flags): each one's recipe hash
sits beside it. Go's own build and module caches (outside the repository) make a rebuild after a
pin change incremental.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Callable

from . import pins
from .images import component_refs
from .progress import say

STAMPS = pins.BIN / ".recipes.json"


def _ldflags(command: pins.GoCommand) -> str:
    return " ".join(["-s", "-w", *(f"-X {variable}={value}" for variable, value in command.version)])


def _recipe(command: pins.GoCommand) -> str:
    module = pins.GO_DIR / command.module
    digest = hashlib.sha256()
    for part in ((module / "go.mod").read_bytes(), (module / "go.sum").read_bytes(),
                 command.package.encode(), _ldflags(command).encode(), command.tags.encode(),
                 str(command.cgo).encode()):
        digest.update(part)
    return digest.hexdigest()


def _stamps() -> dict:
    return json.loads(STAMPS.read_text()) if STAMPS.exists() else {}


def _go_build(command: pins.GoCommand, out: Path) -> None:
    env = {**os.environ, "CGO_ENABLED": "1" if command.cgo else "0", "GOFLAGS": "-mod=readonly",
           # Go 1.21+ would fetch a newer toolchain named in a go.mod; the machine's Go builds all.
           "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local")}
    subprocess.run(["go", "build", "-trimpath", "-tags", command.tags, "-ldflags", _ldflags(command),
                    "-o", str(out), command.package],
                   cwd=pins.GO_DIR / command.module, env=env, check=True)


def _kubernetes_source(release: pins.Release) -> Path:
    out = subprocess.run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{release.kubernetes}"],
                         cwd=pins.GO_DIR / f"kubernetes-{release.minor}", capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout)["Dir"])


def _build_pause(release: pins.Release, out: Path) -> None:
    # The pause container's binary is C in the Kubernetes tree (build/pause/linux/pause.c).
    source = _kubernetes_source(release) / "build" / "pause" / "linux" / "pause.c"
    subprocess.run(["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{release.pause}-kubeproof-lab",
                    "-o", str(out), str(source)], check=True)


def _wanted(releases: tuple[pins.Release, ...]) -> dict[Path, tuple[str, Callable[[Path], None]]]:
    """Every binary the lab needs: its path, its recipe's hash, and how to build it."""
    wanted = {pins.BIN / c.name: (_recipe(c), partial(_go_build, c)) for c in (*pins.NODE_COMMANDS, *pins.TOOL_COMMANDS)}
    for release in releases:
        for command in release.commands():
            wanted[release.bin / command.name] = (_recipe(command), partial(_go_build, command))
        wanted[release.bin / "pause"] = (hashlib.sha256(f"{release.kubernetes} {release.pause}".encode()).hexdigest(),
                                         partial(_build_pause, release))
    return wanted


def ensure_binaries(releases: tuple[pins.Release, ...] = pins.RELEASES) -> None:
    stamps = _stamps()
    for path, (recipe, build) in _wanted(releases).items():
        key = str(path.relative_to(pins.BIN))
        if stamps.get(key) == recipe and path.exists():
            continue
        say(f"building {key} ...")
        started = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        build(path)
        stamps[key] = recipe
        STAMPS.write_text(json.dumps(stamps, indent=1, sort_keys=True))
        say(f"built {key} in {time.monotonic() - started:.0f} s")
    for release in releases:
        _check_image_list(release)


def _check_image_list(release: pins.Release) -> None:
    """The images kubeadm will ask for are exactly the ones the lab makes."""
    listed = subprocess.run([str(release.bin / "kubeadm"), "config", "images", "list",
                             "--kubernetes-version", release.kubernetes],
                            capture_output=True, text=True, check=True).stdout.split()
    made = set(component_refs(release))
    if set(listed) - made:
        raise SystemExit(f"lab: kubeadm {release.kubernetes} wants {sorted(set(listed) - made)}, "
                         "which selftest/lab/pins.py does not make")
