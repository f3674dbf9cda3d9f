"""kubeproof's container image, built from its wheel with no registry, Docker or Dockerfile.

The image is a docker-archive tarball, what `docker save` writes and what `docker load`, `podman load`,
`kind load image-archive` and `ctr images import` read, of two layers:

- the base: a root filesystem with python3, as a directory (debootstrap's) or an uncompressed
  tarball (`docker export` of any container of, say, python:3.11-slim);
- kubeproof: the wheel and its dependencies, installed by pip for the base's Python minor
  (`pip install --target`, binary wheels only), and kubectl, which drives the probe pods.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ..errors import KubeproofError

SITE = "/opt/kubeproof"  # the wheel and its dependencies, on the image's PYTHONPATH
KUBECTL = "/usr/local/bin/kubectl"
ENTRYPOINT = ["python3", "-m", "kubeproof"]
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}  # platform.machine() -> the image config's name
_STDLIB = re.compile(r"^(?:\./)?usr/(?:local/)?lib/python(3\.\d+)/os\.py$")


def python_minor(base: Path) -> str:
    """The Python minor of the base's python3 (where its standard library's os.py is), e.g. "3.11"."""
    if base.is_dir():
        names = [str(p.relative_to(base)) for pattern in ("usr/lib/python3.*/os.py", "usr/local/lib/python3.*/os.py")
                 for p in base.glob(pattern)]
    else:
        try:
            with tarfile.open(base) as tar:
                names = tar.getnames()
        except (OSError, tarfile.TarError) as exc:
            raise KubeproofError(f"--base {base}: neither a directory nor a readable tarball ({exc})") from None
    minors = sorted({m.group(1) for m in map(_STDLIB.match, names) if m})
    if len(minors) != 1:
        found = f"Pythons {', '.join(minors)}" if minors else "no Python standard library"
        raise KubeproofError(f"--base {base}: needs exactly one python3 (found {found} under usr/lib, usr/local/lib)")
    return minors[0]


def install(wheel: Path, minor: str, into: Path) -> None:
    """The wheel and its dependencies into `into`, as binary wheels for that Python minor."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--target", str(into), "--only-binary=:all:", "--python-version", minor,
                           str(wheel)], capture_output=True, text=True)
    if done.returncode:
        raise KubeproofError(f"pip could not install {wheel.name} for Python {minor}: "
                             + (done.stderr.strip().splitlines() or ["no message"])[-1])


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tar(out: Path, members: dict[str, Path]) -> Path:
    """A layer holding each path (file or directory tree) at its name in the image."""
    with tarfile.open(out, "w") as tar:
        for inside, here in members.items():
            tar.add(here, arcname=inside)
    return out


def build(wheel: Path, base: Path, kubectl: Path, out: Path, ref: str) -> None:
    """Write the image `ref` as a docker-archive at out."""
    for what, path in (("--wheel", wheel), ("--kubectl", kubectl)):
        if not path.is_file():
            raise KubeproofError(f"{what} {path}: no such file")
    minor = python_minor(base)
    with tempfile.TemporaryDirectory(dir=out.parent) as work:
        work = Path(work)
        install(wheel, minor, work / "site")
        layers = [base if base.is_file() else _tar(work / "base.tar", {".": base}),
                  _tar(work / "kubeproof.tar", {SITE.lstrip("/"): work / "site", KUBECTL.lstrip("/"): kubectl})]
        digests = [_digest(layer) for layer in layers]
        config = json.dumps({
            "architecture": ARCHITECTURES.get(platform.machine(), platform.machine()), "os": "linux",
            "config": {"Entrypoint": ENTRYPOINT, "WorkingDir": "/tmp",
                       "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               f"PYTHONPATH={SITE}"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in digests]},
            "history": [{"created_by": f"kubeproof image: {what}"} for what in (base.name, wheel.name)],
        }).encode()
        (work / "config.json").write_bytes(config)
        config_name = f"{hashlib.sha256(config).hexdigest()}.json"
        (work / "manifest.json").write_text(json.dumps([{
            "Config": config_name, "RepoTags": [ref], "Layers": [f"{d}/layer.tar" for d in digests]}]))
        partial = out.with_name(out.name + ".partial")  # a killed build leaves no archive that looks whole
        with tarfile.open(partial, "w") as archive:
            for layer, digest in zip(layers, digests):
                archive.add(layer, arcname=f"{digest}/layer.tar")
            archive.add(work / "config.json", arcname=config_name)
            archive.add(work / "manifest.json", arcname="manifest.json")
        partial.rename(out)
