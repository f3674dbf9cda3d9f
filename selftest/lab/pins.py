"""What the lab builds, pinned: versions, where each binary comes from, and where it is cached.

Everything is built from the Go module proxy and Debian's archive (the machines reach no image
registry); the cache lives outside the repository and survives between runs on one machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

KUBERNETES = "v1.32.4"
# What `kubeadm config images list --kubernetes-version v1.32.4` prints; the build checks it.
COREDNS = "v1.11.3"
ETCD = "3.5.16-0"
PAUSE = "3.10"

CACHE = Path(os.environ.get("KUBEPROOF_LAB_CACHE", Path.home() / ".cache" / "kubeproof-lab"))
BIN = CACHE / "bin"
GO_DIR = Path(__file__).with_name("go")
FILES = Path(__file__).with_name("files")

CLUSTER = "kubeproof-lab"
NODE_IMAGE = f"localhost/kubeproof-lab/node:{KUBERNETES}"
# Stand-ins for images the probe pods and scenarios run; named for what they are, not for an
# upstream image they are not.
TOOLS_IMAGE = "localhost/kubeproof-lab/tools:bookworm"
BUSYBOX_IMAGE = "localhost/kubeproof-lab/busybox:bookworm"


@dataclass(frozen=True)
class GoCommand:
    name: str       # the binary's name in BIN
    module: str     # selftest/lab/go/<module>: the go.mod that pins it
    package: str
    version_ldflags: str = ""  # the -X package whose version variables are set


KUBE_VERSION_PACKAGE = "k8s.io/component-base/version"
GO_COMMANDS = (
    *(GoCommand(name, "kubernetes", f"k8s.io/kubernetes/cmd/{name}", KUBE_VERSION_PACKAGE)
      for name in ("kubeadm", "kubectl", "kubelet", "kube-apiserver", "kube-controller-manager",
                   "kube-scheduler", "kube-proxy")),
    GoCommand("kind", "kind", "sigs.k8s.io/kind"),
    GoCommand("etcd", "etcd", "go.etcd.io/etcd/server/v3"),
    GoCommand("coredns", "coredns", "github.com/coredns/coredns"),
    GoCommand("crictl", "crictl", "sigs.k8s.io/cri-tools/cmd/crictl"),
)
