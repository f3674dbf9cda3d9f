"""The lab: a real Kubernetes v1.32 cluster of kind nodes, built offline from pinned sources (docs/lab.md)."""
