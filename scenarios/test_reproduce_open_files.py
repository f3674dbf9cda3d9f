"""nofile-exhaustion (001 §4): a process at its open-files limit, and node daemons that must not be.

inject   a best-effort pod on a worker whose shell lowers its nofile to 256 and opens descriptors
         until open() fails; then, on the node, kube-proxy's soft nofile is lowered to 1024 (Ubuntu's
         default that broke calico-node in the report) with prlimit, recorded for the restore;
observe  the pod's child dies with "Too many open files" (EMFILE) while its parent shell, at the
         same limit, still opens files; the node's kubelet stays healthy and its kube-proxy and
         CNI pods keep running, unrestarted;
judge    limits.daemon_nofile on facts gathered now does not flag kube-proxy for a soft limit of
         1024 under an intact hard limit (it may raise it: the judge reads the hard limit; 001's
         1024:1024 is proven by selftest/flawed_nodes.py), and judges as before once it is back;
restore  kube-proxy's soft limit is set back; the namespace is deleted.
"""

from __future__ import annotations

import pytest

from kubeproof.faults import descriptors, kubelet
from kubeproof.faults.cluster import pod
from kubeproof.faults.waiting import wait_for
from kubeproof.judge.node import limits
from kubeproof.judge.cluster.critical_pods import component_of

POD_LIMIT = 256
DAEMON_LIMIT = 1024  # Ubuntu's default in 001 §4
PROXY_PID = ('for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = kube-proxy ] '
             '&& echo "${p#/proc/}" && break; done; true')


def _critical_pods(cluster, node: str) -> dict[str, tuple[str, int]]:
    """kube-proxy and CNI pods on the node: name -> (uid, restarts)."""
    pods = cluster.pods("kube-system", field_selector=f"spec.nodeName={node}")
    return {p["metadata"]["name"]: (p["metadata"]["uid"], sum(s.get("restartCount", 0) for s in
                                                              p["status"].get("containerStatuses") or []))
            for p in pods if (c := component_of(p)) and not c.role.startswith("cluster DNS")}


@pytest.mark.failure("nofile-exhaustion")
def test_a_process_at_its_limit_gets_emfile_and_node_daemons_keep_working(scenario, profile, evidence):
    cluster = scenario.cluster
    name = scenario.worker()
    node, journal = scenario.fault_on(name)
    namespace = scenario.namespace()
    critical = _critical_pods(cluster, name)
    before = limits.daemon_nofile(scenario.facts(node), profile.nofile_min)

    with scenario.phase("inject", f"pod exhausting a nofile of {POD_LIMIT} on {name}; kube-proxy's soft "
                                  f"nofile to {DAEMON_LIMIT}"):
        cluster.create(namespace, pod("kubeproof-fd-hog", scenario.id, image=scenario.image, node=name,
                                      containers=[{"name": "main", "image": scenario.image,
                                                   "imagePullPolicy": "IfNotPresent",
                                                   "command": ["sh", "-c", descriptors.script(POD_LIMIT)]}]))
        proxy = node.check(PROXY_PID, what="find kube-proxy").strip()
        if not proxy:
            pytest.skip(f"no kube-proxy process on {name} (a kube-proxy-less CNI?)")
        soft = node.check(f"prlimit --pid {proxy} --nofile --noheadings --raw -o SOFT",
                          what="read kube-proxy's nofile").strip()
        journal.record("nofile", proxy, soft)
        node.check(f"prlimit --pid {proxy} --nofile={DAEMON_LIMIT}:", what="lower kube-proxy's soft nofile")

    with scenario.phase("observe", "EMFILE in the pod, its parent fine, node daemons fine"):
        done = wait_for("pod kubeproof-fd-hog finished", lambda: cluster.pod(namespace, "kubeproof-fd-hog"),
                        until=lambda p: p["status"].get("phase") in ("Succeeded", "Failed"), timeout=180)
        log = cluster.call("read the pod's log", cluster.core.read_namespaced_pod_log, "kubeproof-fd-hog",
                           namespace)
        result = descriptors.parse(log)
        evidence.attach("pod log", log)
        assert result.limit == POD_LIMIT and result.emfile, f"no EMFILE at nofile {POD_LIMIT}: {result}"
        assert result.parent_ok and done["status"]["phase"] == "Succeeded", \
            f"the pod's parent shell broke: {result}"
        kubelet.wait_healthy(node, timeout=30)
        assert _critical_pods(cluster, name) == critical, "a kube-proxy or CNI pod restarted or was replaced"

    with scenario.phase("judge", f"daemon_nofile reads the hard limit: a soft {DAEMON_LIMIT} is no failure"):
        lowered = limits.daemon_nofile(scenario.facts(node), profile.nofile_min)
        evidence.attach("judged with kube-proxy lowered", lowered.judged)
        assert lowered.problems == before.problems, (before.problems, lowered.problems)

    with scenario.phase("restore", "kube-proxy's limit back; daemon_nofile as before"):
        journal.undo()
        after = limits.daemon_nofile(scenario.facts(node), profile.nofile_min)
        assert after.problems == before.problems, (before.problems, after.problems)
