"""hostnetwork-dns-policy (004): a hostNetwork pod on dnsPolicy ClusterFirst cannot resolve Services.

arrange  on a worker, a hostNetwork pod on ClusterFirstWithHostNet (004's fix) looking up the
         kubernetes Service by its full name: it resolves, host_dns passes;
inject   the same pod on ClusterFirst, the default 004's ingress controller would have had;
observe  its lookup fails with the node's resolver (busybox nslookup: can't find it, or no server
         answers), while the first one's still resolves;
judge    host_dns.hostnetwork_pods_on_cluster_first names the ClusterFirst pod;
restore  the pod deleted: the judge passes again. The kubelet says nothing of the fallback, so the
         history scan must find nothing (the catalog's no_patterns).

The name is looked up fully qualified (kubernetes.default.svc.<cluster domain>): busybox's nslookup
since 1.29 does not walk resolv.conf's search list, so "kubernetes.default" alone fails on either
policy. The cluster domain is read from CoreDNS's Corefile (cluster.local when it names none).
"""

from __future__ import annotations

import re

import pytest

from kubeproof.judge.cluster.host_dns import hostnetwork_pods_on_cluster_first
from kubeproof.scenario import container, pod
from kubeproof.waiting import wait_for

RESOLVES, FALLS_BACK = "kubeproof-dns-withhostnet", "kubeproof-dns-clusterfirst"
SYMPTOMS = (("server can't find kubernetes.default", "no servers could be reached",
             "can't resolve 'kubernetes.default"),)
# One lookup every 5 s, its outcome on a line of its own, so the log says what each policy gives now.
LOOKUP = 'while :; do nslookup "$NAME" && echo "kubeproof: resolved $NAME"; sleep 5; done'


def _cluster_domain(corefile: str) -> str:
    found = re.search(r"^\s*kubernetes\s+(\S+)", corefile, re.M)
    return found.group(1) if found else "cluster.local"


@pytest.mark.failure("hostnetwork-dns-policy")
def test_a_hostnetwork_pod_on_clusterfirst_cannot_resolve_services(scenario):
    cluster = scenario.cluster
    node, namespace = scenario.pods_on_worker()
    coredns = cluster.call("read configmap kube-system/coredns", cluster.core.read_namespaced_config_map,
                           "coredns", "kube-system", missing_ok=True)
    target = f"kubernetes.default.svc.{_cluster_domain((coredns.data or {}).get('Corefile', '') if coredns else '')}"

    def start(name: str, policy: str) -> None:
        scenario.defer(f"delete pod {namespace}/{name}", lambda: cluster.delete_pod(namespace, name))
        cluster.create(namespace, pod(name, scenario.id, container(scenario.image, "sh", "-c", LOOKUP,
                                                                   env=[{"name": "NAME", "value": target}]),
                                      node=node, restart="Always", hostNetwork=True, dnsPolicy=policy))
        cluster.wait_running(namespace, [name])

    def log(name: str) -> str:
        return cluster.call(f"read log of {namespace}/{name}", cluster.core.read_namespaced_pod_log, name, namespace,
                            tail_lines=40)

    def arrange() -> None:
        start(RESOLVES, "ClusterFirstWithHostNet")
        wait_for(f"{RESOLVES} resolving {target}", lambda: log(RESOLVES),
                 until=lambda text: f"kubeproof: resolved {target}" in text, timeout=60)

    def inject() -> None:
        start(FALLS_BACK, "ClusterFirst")

    def observe() -> list[str]:
        failed = wait_for(f"{FALLS_BACK} failing to resolve {target}", lambda: log(FALLS_BACK),
                          until=lambda text: any(s in text for s in SYMPTOMS[0]), timeout=90)
        assert f"kubeproof: resolved {target}" in log(RESOLVES), "ClusterFirstWithHostNet stopped resolving"
        assert f"kubeproof: resolved {target}" not in failed, f"{FALLS_BACK} resolved {target} with the node's resolver"
        return [f"{FALLS_BACK} (ClusterFirst): {line}" for line in failed.splitlines() if line.strip()] + [
            f"{RESOLVES} (ClusterFirstWithHostNet): kubeproof: resolved {target}"]

    def judge() -> list[str]:
        found = hostnetwork_pods_on_cluster_first(scenario.view().list("pods"))
        return [p for p, o in zip(found.problems, found.offenders) if o["namespace"] == namespace]

    scenario.prove(arrange=arrange, judge=judge, inject=inject, observe=observe, symptoms=SYMPTOMS,
                   offender=FALLS_BACK,
                   recovered=lambda: (cluster.delete_pod(namespace, FALLS_BACK),
                                      wait_for(f"pod {FALLS_BACK} gone", lambda: cluster.pods(namespace),
                                               until=lambda pods: all(p["metadata"]["name"] != FALLS_BACK
                                                                      for p in pods), timeout=120)))
