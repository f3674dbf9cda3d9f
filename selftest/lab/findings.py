"""What an audit of a fresh lab cluster fails, and why: a fresh kind cluster is not a hardened one.

- nodefs-pressure, every node: kind writes evictionHard nodefs.available, nodefs.inodesFree and
  imagefs.available at 0% (pkg/cluster/internal/kubeadm/config.go), so its nested kubelets never
  evict for the host's disk; being a partial set, it also leaves memory.available and
  imagefs.inodesFree unset on a 1.32 kubelet.
- critical-pod-eviction: kind's kindnet DaemonSet (pkg/build/nodeimage/const_cni.go; the lab CNI
  keeps its shape) has no priorityClassName.

Anything else failing on the lab is a judge that a real cluster contradicts. Open files are judged
against 20000 (LAB_PROFILE): no process on these machines may hold more (LAB-NOTES).
"""

FRESH_KIND_FAILS = frozenset({
    "tests_node/test_eviction.py::test_no_eviction_signal_is_disabled",
    "tests_cluster/test_critical_pods.py::test_node_agents_have_critical_priority",
})
LAB_PROFILE = "nofile_min: 20000\n"
