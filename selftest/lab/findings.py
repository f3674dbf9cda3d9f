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

# Tests of what happened lately (journals, Events and restarts within a window): on the lab their
# failures report what the scenarios did there (an eviction, the API server restarting after
# --anonymous-auth=false), not a hardening gap of the cluster.
HAPPENED_TESTS = (
    "tests_node/test_log_history.py", "tests_cluster/test_event_history.py",
    "tests_cluster/test_node_pressure.py::test_no_recent_eviction_events",
    "tests_cluster/test_node_pressure.py::test_no_pod_evicted_for_ephemeral_storage",
    "tests_cluster/test_apiserver_probes.py::test_apiserver_is_not_restarting",
    "tests_cluster/test_workloads.py::test_no_container_crashing",
)
# The node skips an audit of the lab may give, and why: control-plane checks on workers, and the
# kernel log of a node in a container (it is the host's, shared by every node).
EXPLAINED_NODE_SKIPS = ("not a control-plane node", "kernel log not read")
