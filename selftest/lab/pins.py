"""What the lab builds, pinned: releases, where each binary comes from, and where it is cached.

Everything is built from the Go module proxy and Debian's archive (the machines reach no image
registry); the cache lives outside the repository and survives between runs on one machine.

Two Kubernetes minors: the newest supported (the default: the lab cluster, the main flow, the
scenarios) and the oldest supported (a second cluster for the live audit). Each release's etcd,
coredns and pause are what its own kubeadm lists (`kubeadm config images list`; the build checks).
The node runtime (containerd 2, runc, the CNI plugins, crictl) and kind are one set for both:
the line kind v0.33's own node images ship (kind's images/base/Dockerfile).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("KUBEPROOF_LAB_CACHE", Path.home() / ".cache" / "kubeproof-lab"))
BIN = CACHE / "bin"
GO_DIR = Path(__file__).with_name("go")
FILES = Path(__file__).with_name("files")

# The versions a binary stamps into itself; each module's version is its go.mod's (selftest/lab/go:
# kind v0.33.0, the CNI plugins v1.9.1 among them).
CONTAINERD = "v2.3.4"
RUNC = "v1.4.3"
CRICTL = "v1.37.0"

CLUSTER = "kubeproof-lab"     # the default release's cluster; other minors' names add the minor
# Stand-ins for images the probe pods and scenarios run; named for what they are, not for an
# upstream image they are not.
TOOLS_IMAGE = "localhost/kubeproof-lab/tools:bookworm"
BUSYBOX_IMAGE = "localhost/kubeproof-lab/busybox:bookworm"


@dataclass(frozen=True)
class GoCommand:
    name: str       # the binary's name in its bin directory
    module: str     # selftest/lab/go/<module>: the go.mod that pins it
    package: str
    # The version it reports (`-X` linker flags: variable -> value); a module built from the proxy
    # carries none of the values a release build stamps in.
    version: tuple[tuple[str, str], ...] = ()
    cgo: bool = False
    tags: str = ""


def _kube_version(kubernetes: str) -> tuple[tuple[str, str], ...]:
    # kubeadm and the kubelet read their own version from these; a "v0.0.0-master" kubeadm
    # refuses the cluster's version.
    major, minor = kubernetes.lstrip("v").split(".")[:2]
    values = {"gitVersion": kubernetes, "gitMajor": major, "gitMinor": minor, "gitCommit": "0" * 40,
              "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z"}
    return tuple((f"{package}.{key}", value) for package in ("k8s.io/component-base/version",
                                                             "k8s.io/client-go/pkg/version")
                 for key, value in values.items())

KUBE_COMMANDS = ("kubeadm", "kubectl", "kubelet", "kube-apiserver", "kube-controller-manager",
                 "kube-scheduler", "kube-proxy")


@dataclass(frozen=True)
class Release:
    kubernetes: str   # the k8s.io/kubernetes module version
    etcd: str         # image tags as this release's kubeadm lists them
    coredns: str
    pause: str

    @property
    def minor(self) -> str:
        return ".".join(self.kubernetes.lstrip("v").split(".")[:2])

    @property
    def cluster(self) -> str:
        return CLUSTER if self is DEFAULT else f"{CLUSTER}-{self.minor.replace('.', '-')}"

    @property
    def bin(self) -> Path:
        return BIN / self.kubernetes

    @property
    def node_image(self) -> str:
        return f"localhost/kubeproof-lab/node:{self.kubernetes}"

    def commands(self) -> tuple[GoCommand, ...]:
        etcd_line = ".".join(self.etcd.split(".")[:2])
        coredns_line = ".".join(self.coredns.lstrip("v").split(".")[:2])
        return (*(GoCommand(name, f"kubernetes-{self.minor}", f"k8s.io/kubernetes/cmd/{name}",
                            _kube_version(self.kubernetes))
                  for name in KUBE_COMMANDS),
                GoCommand("etcd", f"etcd-{etcd_line}", "go.etcd.io/etcd/server/v3"),
                GoCommand("coredns", f"coredns-{coredns_line}", "github.com/coredns/coredns"))


RELEASES = (
    # kubeadm v1.37.2: cmd/kubeadm/app/constants/constants.go (DefaultEtcdVersion, CoreDNSVersion, PauseVersion)
    Release("v1.37.2", etcd="3.7.0-0", coredns="v1.14.6", pause="3.10.2"),
    Release("v1.35.4", etcd="3.6.6-0", coredns="v1.13.1", pause="3.10.1"),
)
DEFAULT = RELEASES[0]


def release(minor: str | None) -> Release:
    """The release of a minor ("1.35"), or the default for None."""
    if minor is None:
        return DEFAULT
    for candidate in RELEASES:
        if candidate.minor == minor.lstrip("v"):
            return candidate
    raise SystemExit(f"lab: no pinned Kubernetes {minor}; pinned: {', '.join(r.minor for r in RELEASES)}")


# The node runtime and the tools around the clusters, shared by every release.
# containerd's Makefile stamps the version without its "v": the node then reports containerd://2.3.4.
CONTAINERD_VERSION = (("github.com/containerd/containerd/v2/version.Version", CONTAINERD.lstrip("v")),)
CONTAINERD_TAGS = "no_aufs no_zfs no_btrfs no_devmapper"   # kind's: the snapshotters it never selects
CNI_PLUGINS_IN = {"host-local": "ipam", "loopback": "main", "ptp": "main", "portmap": "meta", "bridge": "main"}
NODE_COMMANDS = (
    *(GoCommand(name, "containerd", f"github.com/containerd/containerd/v2/cmd/{name}", CONTAINERD_VERSION,
                tags=CONTAINERD_TAGS) for name in ("containerd", "ctr", "containerd-shim-runc-v2")),
    # runc filters syscalls through libseccomp (cgo, Debian's libseccomp-dev), as kind builds it.
    GoCommand("runc", "runc", "github.com/opencontainers/runc", (("main.version", RUNC.lstrip("v")),),
              cgo=True, tags="seccomp urfave_cli_no_docs"),
    *(GoCommand(plugin, "cni-plugins", f"github.com/containernetworking/plugins/plugins/{kind}/{plugin}")
      for plugin, kind in CNI_PLUGINS_IN.items()),
    GoCommand("crictl", "crictl", "sigs.k8s.io/cri-tools/cmd/crictl",
              (("sigs.k8s.io/cri-tools/pkg/version.Version", CRICTL),)),
)
TOOL_COMMANDS = (GoCommand("kind", "kind", "sigs.k8s.io/kind"),)
