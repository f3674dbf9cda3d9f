"""Fault primitives: what scenarios do to a node or a cluster, and how each is undone.

Every primitive that changes a node records the change in a journal on that node *before* making
it (journal.py), so that a run killed half-way is undone by `python -m kubeproof cleanup`.

    node.py         commands on one node (kind container, ssh host, this host), with deadlines
    journal.py      the on-node journal of changes and the sweep that undoes them
    files.py        replace a node file temporarily, restored byte for byte
    cgroups.py      memory cgroups left behind and the live/dying cgroup counts
    disk.py         free space and fill files (fallocate)
    kubelet.py      edit the kubelet's config file and restart it
    pki.py          re-issue a certificate with other dates from its CA
    cluster.py      labelled Kubernetes objects and their removal
"""
