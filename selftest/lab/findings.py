"""What an audit of a fresh lab cluster fails, and why: a fresh kind cluster is not a hardened one.

- nodefs-pressure, every node: kind writes evictionHard nodefs.available, nodefs.inodesFree and
  imagefs.available at 0% (pkg/cluster/internal/kubeadm/config.go), so its nested kubelets never
  evict for the host's disk; being a partial set, it also leaves memory.available and
  imagefs.inodesFree unset on a 1.32 kubelet.
- critical-pod-eviction: kind's kindnet DaemonSet (pkg/build/nodeimage/const_cni.go; the lab CNI
  keeps its shape) has no priorityClassName.
- from Kubernetes 1.35, cgroup-kmem-leak, every node: this host is cgroup v1, which a kubelet
  >= 1.35 refuses unless failCgroupV1 is false (KEP-5573); the lab sets that (docs/lab.md), and the
  audit reports the node running a cgroup v1 kubelet past its deprecation.

Anything else failing on the lab is a judge that a real cluster contradicts. Open files are judged
against 20000 (LAB_PROFILE): no process on these machines may hold more (docs/lab.md).
"""

FRESH_KIND_FAILS = frozenset({
    "tests_node/test_eviction.py::test_no_eviction_signal_is_disabled",
    "tests_cluster/test_critical_pods.py::test_node_agents_have_critical_priority",
})
# What a >= 1.35 kubelet on this cgroup v1 host fails (its lab-only failCgroupV1: false).
# judge.node.cgroups.kubelet_cgroup_v2: the kubelet runs on cgroup v1 with failCgroupV1: false,
# warning cm.CgroupV1DeprecatedWarning; the v1.32 recordings pass it (their kubelet predates 1.35).
CGROUP_V1_KUBELET_FAILS = frozenset({"tests_node/test_cgroups.py::test_kubelet_runs_on_cgroup_v2"})
CGROUP_V1_KUBELET_SINCE = (1, 35)


def fresh_kind_fails(kubernetes: str) -> frozenset[str]:
    """What an audit of a fresh lab cluster of this Kubernetes version ("v1.37.2") fails."""
    minor = tuple(int(part) for part in kubernetes.lstrip("v").split(".")[:2])
    return FRESH_KIND_FAILS | (CGROUP_V1_KUBELET_FAILS if minor >= CGROUP_V1_KUBELET_SINCE else frozenset())


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
