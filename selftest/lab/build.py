"""Binaries from pinned sources: Kubernetes, kind, etcd, coredns and crictl with Go; pause with gcc.

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
from pathlib import Path

from . import pins
from .images import component_refs
from .progress import say

STAMPS = pins.BIN / ".recipes.json"


def _ldflags(command: pins.GoCommand) -> str:
    flags = ["-s", "-w"]
    if command.version_ldflags:
        major, minor = pins.KUBERNETES.lstrip("v").split(".")[:2]
        # kubeadm and the kubelet read their own version from these; a "v0.0.0-master" kubeadm
        # refuses the cluster's version.
        values = {"gitVersion": pins.KUBERNETES, "gitMajor": major, "gitMinor": minor,
                  "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2025-04-22T00:00:00Z"}
        for package in (command.version_ldflags, "k8s.io/client-go/pkg/version"):
            flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


def _recipe(command: pins.GoCommand) -> str:
    module = pins.GO_DIR / command.module
    digest = hashlib.sha256()
    for part in ((module / "go.mod").read_bytes(), (module / "go.sum").read_bytes(),
                 command.package.encode(), _ldflags(command).encode()):
        digest.update(part)
    return digest.hexdigest()


def _stamps() -> dict:
    return json.loads(STAMPS.read_text()) if STAMPS.exists() else {}


def _go_build(command: pins.GoCommand) -> None:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly",
           # Go 1.21+ would fetch a newer toolchain named in a go.mod; the machine's Go builds all.
           "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local")}
    subprocess.run(["go", "build", "-trimpath", "-ldflags", _ldflags(command),
                    "-o", str(pins.BIN / command.name), command.package],
                   cwd=pins.GO_DIR / command.module, env=env, check=True)


def _kubernetes_source() -> Path:
    out = subprocess.run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{pins.KUBERNETES}"],
                         cwd=pins.GO_DIR / "kubernetes", capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout)["Dir"])


def _build_pause() -> None:
    # The pause container's binary is C in the Kubernetes tree (build/pause/linux/pause.c).
    source = _kubernetes_source() / "build" / "pause" / "linux" / "pause.c"
    subprocess.run(["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{pins.PAUSE}-kubeproof-lab",
                    "-o", str(pins.BIN / "pause"), str(source)], check=True)


def ensure_binaries() -> None:
    pins.BIN.mkdir(parents=True, exist_ok=True)
    stamps = _stamps()
    wanted = {c.name: _recipe(c) for c in pins.GO_COMMANDS}
    wanted["pause"] = hashlib.sha256(f"{pins.KUBERNETES} {pins.PAUSE}".encode()).hexdigest()
    for command in (*pins.GO_COMMANDS, None):
        name = command.name if command else "pause"
        if stamps.get(name) == wanted[name] and (pins.BIN / name).exists():
            continue
        say(f"building {name} ...")
        started = time.monotonic()
        _go_build(command) if command else _build_pause()
        stamps[name] = wanted[name]
        STAMPS.write_text(json.dumps(stamps, indent=1, sort_keys=True))
        say(f"built {name} in {time.monotonic() - started:.0f} s")
    _check_image_list()


def _check_image_list() -> None:
    """The images kubeadm will ask for are exactly the ones the lab makes."""
    listed = subprocess.run([str(pins.BIN / "kubeadm"), "config", "images", "list",
                             "--kubernetes-version", pins.KUBERNETES],
                            capture_output=True, text=True, check=True).stdout.split()
    made = set(component_refs())
    if set(listed) - made:
        raise SystemExit(f"lab: kubeadm {pins.KUBERNETES} wants {sorted(set(listed) - made)}, "
                         "which selftest/lab/pins.py does not make")
