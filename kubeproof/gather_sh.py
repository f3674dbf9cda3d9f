"""gather.sh's text and the kernel settings it reads: one place for the gatherer, which sets
SYSCTLS before the script as it sets the history variables, and for the profile, which takes a
minimum only for a setting that is gathered."""

from __future__ import annotations

from importlib import resources

# /proc/sys paths, read by gather.sh's sysctls section.
SYSCTLS = (
    "fs/file-max", "fs/file-nr", "fs/nr_open", "net/core/somaxconn", "net/ipv4/ip_local_port_range",
    "fs/inotify/max_user_instances", "fs/inotify/max_user_watches", "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_count", "net/ipv4/tcp_max_tw_buckets",
)
TEXT = resources.files("kubeproof.nodes").joinpath("gather.sh").read_text()
