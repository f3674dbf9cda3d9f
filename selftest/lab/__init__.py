"""The lab: real Kubernetes clusters (the newest and the oldest supported minor) of kind nodes on
containerd 2, built offline from pinned sources (docs/lab.md)."""
