"""The real tests_cluster suite against the test clusters: from dumps, and live through the real
`kubernetes` client against the replay server enforcing the read-only audit role.

Each flawed variant (selftest/data/make_cluster_variants.py) must fail exactly its assertions,
naming every offender and none of its near misses; the healthy cluster passes everything, skipping
only with a stated reason. The serving certificate is read over real TLS from a kubeadm-shaped
certificate made here.
"""

from __future__ import annotations

import gc
import http.client
import json
import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml
from cryptography import x509

from kubeproof import cli
from kubeproof.errors import KubeproofError, Unavailable
from kubeproof.kube.client import api_client, check_reachable, request_info
from kubeproof.kube.dump import open_dump
from kubeproof.kube.kinds import KINDS
from kubeproof.kube.rbac import cluster_role
from kubeproof.kube.replay import ReplayServer, TLSFiles
from kubeproof.kube.view import ClusterView
from selftest.support import kubeadm_pki
from selftest.support.kubectl_dump import write_kubectl_dump
from selftest.support.paths import DATA, REPO

CLUSTERS = DATA / "clusters"
ROLE = cluster_role(REPO / "kubeproof" / "rbac" / "audit-readonly.yaml", "kubeproof-audit-readonly")

# variant -> {failing test: fragments, one per offender it must name}. The test's verdict must list
# exactly that many problems: every offender, and not the variant's near misses.
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "healthy": {},
    "critical-pod-eviction": {
        "test_critical_pods.py::test_network_and_dns_pods_are_critical_to_the_kubelet": (
            "kube-system/kube-proxy-worker-1 (kube-proxy on worker-1) is a static pod on kubelet 1.15.12",
            "Deployment coredns in kube-system (cluster DNS CoreDNS): priorityClassName none"),
        "test_critical_pods.py::test_node_agents_have_critical_priority": (
            "DaemonSet kube-system/kindnet runs on every node with priorityClassName none",),
    },
    "nodefs-pressure": {
        "test_node_pressure.py::test_no_node_reports_pressure": (
            "node cp-1 has MemoryPressure", "node worker-1 has DiskPressure"),
        "test_node_pressure.py::test_no_recent_eviction_events": (
            "EvictionThresholdMet on node worker-1 (Node worker-1, 23x",
            "Evicted on node worker-1 (Pod shop/report-7d9c"),
        "test_node_pressure.py::test_no_pod_evicted_for_ephemeral_storage": (
            "shop/report-7d9c on node worker-1 was evicted: Pod ephemeral local storage usage exceeds",
            "shop/batch-4kq2 on node worker-1 was evicted: Container batch exceeded"),
        "test_event_history.py::test_nodefs_pressure_not_in_events": (
            "node worker-1: ReclaimingDisk 23x in the cluster's Events within 7 days",
            "node worker-1: PodEvictedForDisk 1x in the cluster's Events"),
    },
    "cert-expiry": {
        "test_cluster_certificates.py::test_api_server_serving_certificate": (
            "CN=kube-apiserver (issuer CN=kubernetes) expires 2026-09-24T12:00:00Z, in 10 days",),
        "test_cluster_certificates.py::test_trust_bundles": (
            "MutatingWebhookConfiguration policy-agent webhook policy-agent.example.test caBundle [0] "
            "CN=policy-agent-ca (issuer CN=policy-agent-ca) expires 2026-10-04T12:00:00Z, in 20 days",
            "APIService v1beta1.metrics.k8s.io caBundle [0] CN=metrics-server-ca (issuer CN=metrics-server-ca) "
            "expired 2026-08-10T12:00:00Z, 35 days ago"),
        "test_cluster_certificates.py::test_tls_secrets": (
            "Secret shop/legacy-tls tls.crt [0] CN=legacy.example.test (issuer CN=kubernetes) expired",
            "Secret shop/web-tls tls.crt [0] CN=shop.example.test (issuer CN=kubernetes) expires 2026-09-19"),
        "test_cluster_certificates.py::test_cluster_signing_duration": (
            "kube-system/kube-controller-manager-cp-1: --cluster-signing-duration=87600h signs certificates "
            "for 3650 days (limit 397)",),
    },
    "apiserver-anonymous-probe": {
        "test_apiserver_probes.py::test_apiserver_probes_work_under_its_authentication": (
            "kube-system/kube-apiserver-cp-1: --anonymous-auth=false: anonymous requests are refused, but its "
            "livenessProbe is an unauthenticated HTTPS GET /livez",),
        "test_apiserver_probes.py::test_apiserver_is_not_restarting": (
            "kube-system/kube-apiserver-cp-1 container kube-apiserver restarted 23 times (limit 5)",),
        "test_event_history.py::test_apiserver_anonymous_probe_not_in_events": (
            "node cp-1: ApiserverLivenessUnauthorized 184x in the cluster's Events",),
    },
    "hostname-drift": {
        "test_node_registrations.py::test_each_machine_is_registered_once": (
            "nodes ip-10-89-0-11.ec2.internal and worker-1 share InternalIP 10.89.0.11, machine-id",),
        "test_node_registrations.py::test_calico_node_records_name_existing_nodes": (
            "calico block affinities k8s-node-3-192-168-13-0-26, k8s-node-3-192-168-13-64-26 "
            "(192.168.13.0/26, 192.168.13.64/26) belong to node 'k8s-node-3'",),
    },
    "pleg-unhealthy": {
        "test_pleg.py::test_no_node_reports_pleg_unhealthy": (
            "node worker-1 Ready=False: container runtime status check may not have completed yet, PLEG is not healthy",
            "event NodeNotReady on node cp-1 (2 h ago)"),
    },
    "namespace-stuck": {
        "test_namespaces.py::test_no_namespace_stuck_terminating": (
            "namespace kubesphere-system Terminating for 2 days (limit 30 min), finalizers kubernetes; "
            "NamespaceDeletionDiscoveryFailure",
            "namespace old-tenant Terminating for 6 h (limit 30 min), finalizers kubernetes; "
            "NamespaceFinalizersRemaining: Some content in the namespace has finalizers remaining: "
            "example.com/backup-protection"),
        "test_namespaces.py::test_aggregated_apis_available": (
            "APIService v1beta1.metrics.k8s.io is unavailable (FailedDiscoveryCheck",),
    },
    "affinity-rollout-stall": {
        "test_rollouts.py::test_rollouts_have_room_under_required_anti_affinity": (
            "Deployment shop/cache: 2 replicas with required anti-affinity on kubernetes.io/hostname need 2 nodes, "
            "1 eligible node (worker-1)",
            "Deployment shop/callbreak-room-1: a rollout adds maxSurge 1 pod(s)"),
    },
    "service-no-endpoints": {
        "test_services.py::test_ingress_backends_have_ready_endpoints": (
            "Ingress shop/admin routes admin.example.test/ to Service shop/ingress-0d3b5a2e with no ready endpoints",
            "Ingress shop/admin routes admin.example.test/legacy to Service shop/legacy, which does not exist"),
        "test_services.py::test_services_with_selectors_have_ready_endpoints": (
            "Service shop/api (selector app=api) has no ready endpoints (0 not ready, from EndpointSlices)",
            "Service shop/worker-metrics (selector app=worker) has no ready endpoints (2 not ready, from EndpointSlices)"),
    },
    "workload-crashes": {
        "test_workloads.py::test_no_container_crashing": (
            "shop/english-readmanager2-76598ccd6b-4pch9 container english-readmanager2 on worker-1: CrashLoopBackOff "
            "(back-off 5m0s restarting failed container=english-readmanager2 pod=english-readmanager2-76598ccd6b-4pch9); "
            "6 restarts (limit 5), the last ended",
            "shop/monitoring-grafana-762361155-p9vwj container grafana on worker-1: ImagePullBackOff",
            "shop/my-udp-rc-ld468 container udp-echo on worker-1: RunContainerError",
            "shop/chinese-user-login-server-85dfc64db4-rnqfn container chinese-user-login-server on worker-1: "
            "OOMKilled (exit 137)"),
    },
    "dashboard-exposure": {
        "test_dashboard.py::test_dashboard_fits_the_cluster_and_requires_login": (
            "(docker.io/kubernetesui/dashboard:v2.0.0) is built for Kubernetes 1.18; the cluster runs 1.32",
            "--enable-skip-login lets anyone in", "--authentication-mode=basic accepts basic auth"),
        "test_dashboard.py::test_dashboard_is_not_cluster_admin": (
            "runs as service account kubernetes-dashboard/kubernetes-dashboard, which ClusterRoleBinding "
            "kubernetes-dashboard makes cluster-admin (through ServiceAccount kubernetes-dashboard)",),
    },
}
# What each variant must not report: the near misses planted beside the flaws.
NEAR_MISSES = {
    "critical-pod-eviction": ("kube-proxy-cp-1",),  # static, but on a 1.32 kubelet: critical to it
    "nodefs-pressure": ("cache-warm-9xz1", "Attempting to reclaim memory"),
    "cert-expiry": ("quota-guard", "kube-root-ca.crt"),
    "pleg-unhealthy": ("3m1.2s",),
    "namespace-stuck": ("namespace scratch",),
    "affinity-rollout-stall": ("shop/search",),
    "workload-crashes": ("flaky-report", "veteran-batch"),
}
# Tests that may skip on a variant, with the reason they must give.
NOT_INSTALLED = {
    "test_dashboard.py::test_dashboard_fits_the_cluster_and_requires_login": "no Kubernetes Dashboard installed",
    "test_dashboard.py::test_dashboard_is_not_cluster_admin": "no Kubernetes Dashboard installed",
    "test_node_registrations.py::test_calico_node_records_name_existing_nodes": "calico IPAM is not in use",
}
SERVING_TEST = "test_cluster_certificates.py::test_api_server_serving_certificate"
ALL_TESTS = 30


@pytest.fixture(scope="module")
def variants(data_script):
    """selftest/data/make_cluster_variants.py, which made the committed variants."""
    return data_script("make_cluster_variants")


@pytest.fixture(scope="module", autouse=True)
def frozen_heap():
    """Each in-process run ends with five gc.collect() calls (pytest's unraisable-exception check);
    over the heap of the kubernetes client's model classes that is half a second a run. Frozen, the
    objects that exist before the runs are not scanned again."""
    gc.freeze()
    yield
    gc.unfreeze()


def run_suite(pytester: pytest.Pytester, *target: str, select: str = "") -> dict[str, dict]:
    """Run the real tests_cluster (rootdir REPO) against the target; {test: result} from audit.json.

    Hypothesis's plugin, when installed, imports all of hypothesis (over a second) in every run's
    terminal summary, as pytester unloads what a run imported: it has no part in these runs.
    """
    reports = Path(tempfile.mkdtemp(prefix="reports-", dir=pytester.path))  # one per run: names are by second
    result = pytester.runpytest(str(REPO / "tests_cluster") + select, *target, "--node-access=none",
                                f"--report-dir={reports}", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    [audit] = reports.glob("*/audit.json")
    document = json.loads(audit.read_text())
    assert "PRIVATE KEY" not in audit.read_text()
    return {r["test"].removeprefix("tests_cluster/"): r for f in document["failures"] for r in f["results"]}


def check_verdicts(variant: str, results: dict[str, dict], *, skips: dict[str, str],
                   unjudged: tuple[str, ...] = ()) -> None:
    """Exactly the variant's tests fail (but those unjudged here), each naming every offender and no
    near miss; the rest pass or skip with the stated reason."""
    expected = {test: fragments for test, fragments in EXPECTED[variant].items() if test not in unjudged}
    assert len(results) == ALL_TESTS
    assert sorted(t for t, r in results.items() if r["outcome"] == "failed") == sorted(expected)
    for test, result in results.items():
        if test in expected:
            fragments = expected[test]
            count = len(fragments)
            header = re.match(r"\[[a-z-]+\] cluster: (\d+) problems?\n", result["message"])
            assert header and int(header[1]) == count, result["message"]
            assert [f for f in fragments if f not in result["message"]] == [], result["message"]
            assert len(result["evidence"]["offenders"]) == count
            yaml.safe_dump(result["evidence"])  # YAML-able, as evidence must be
        elif result["outcome"] == "skipped":
            assert test in skips and skips[test] in result["message"], (test, result["message"])
        else:
            assert result["outcome"] == "passed", (test, result)
    reported = json.dumps([(r["message"], r["evidence"].get("offenders")) for r in results.values()])
    assert [m for m in NEAR_MISSES.get(variant, ()) if m in reported] == []


def _skips(variant: str) -> dict[str, str]:
    return {t: why for t, why in NOT_INSTALLED.items() if t not in EXPECTED[variant]}


@pytest.mark.parametrize("variant", EXPECTED)
def test_variant_from_its_dump(pytester: pytest.Pytester, variant: str) -> None:
    results = run_suite(pytester, f"--from-dump={CLUSTERS / variant}")
    check_verdicts(variant, results, skips=_skips(variant))


@pytest.mark.parametrize("variant", EXPECTED)
def test_variant_live_under_the_read_only_audit_role(pytester: pytest.Pytester, tmp_path: Path, variant: str) -> None:
    """Through the real client, two objects a page, under exactly the RBAC manifest: verdicts, no
    permission skip, and nothing but get and list on the wire."""
    with ReplayServer(CLUSTERS / variant, page_size_cap=2, authorize=ROLE.allows) as server:
        results = run_suite(pytester, f"--kubeconfig={server.write_kubeconfig(tmp_path / 'kubeconfig')}")
    # Plain HTTP has no serving certificate to read: that test is proven over TLS below.
    check_verdicts(variant, results, skips={**_skips(variant), SERVING_TEST: "is reached over plain HTTP"},
                   unjudged=(SERVING_TEST,))
    assert not [r for r in results.values() if "insufficient permission" in r["message"]]
    assert {verb for verb, _, _ in server.requests} == {"get", "list"}
    pods = [query for verb, path, query in server.requests if path == "/api/v1/pods"]
    assert len(pods) > 1 and all(("limit", "500") in q for q in pods)  # the server gave two at a time


# --- the read-only audit role ---------------------------------------------------------------------

def test_audit_role_grants_get_list_watch_on_exactly_the_views_kinds() -> None:
    granted = ROLE.granted()
    assert granted == {(k.group, k.plural, verb) for k in KINDS for verb in ("get", "list", "watch")}
    assert [(sorted(r.non_resource_urls), sorted(r.verbs)) for r in ROLE.rules if r.non_resource_urls] == [
        (["/version"], ["get"])]
    binding = [d for d in yaml.safe_load_all((REPO / "kubeproof/rbac/audit-readonly.yaml").read_text())
               if d["kind"] == "ClusterRoleBinding"]
    assert [b["roleRef"]["name"] for b in binding] == [ROLE.name]


def _raw(server: ReplayServer, method: str, path: str) -> int:
    port = int(server.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request(method, path, headers={"Authorization": f"Bearer {server.token}"})
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/version", 200),
    ("GET", "/api/v1/pods?limit=1", 200),
    ("GET", "/api/v1/namespaces/shop/secrets/web-tls", 200),
    ("GET", "/apis/crd.projectcalico.org/v1/blockaffinities", 200),  # granted; the list is empty
    ("GET", "/api/v1/namespaces/shop/pods/web-5d8c9b7f6c-k2v8q/log", 403),  # a subresource: not granted
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", 403),
    ("GET", "/apis/storage.k8s.io/v1/storageclasses", 403),
    ("GET", "/metrics", 403),
    ("POST", "/api/v1/namespaces/shop/pods", 403),
    ("DELETE", "/api/v1/namespaces/shop/pods/web-5d8c9b7f6c-k2v8q", 403),
    ("PATCH", "/api/v1/nodes/worker-1", 403),
])
def test_replay_server_enforces_the_audit_role(method: str, path: str, status: int) -> None:
    with ReplayServer(CLUSTERS / "healthy", authorize=ROLE.allows) as server:
        assert _raw(server, method, path) == status
    assert [verb for verb, _, _ in server.requests] == [request_info(method, path.split("?")[0], []).verb]


# --- the serving certificate over real TLS --------------------------------------------------------

def serving_files(directory: Path, days_left: int) -> TLSFiles:
    """The API server's certificate, key and CA from a kubeadm-shaped PKI (selftest/support/kubeadm_pki.py)."""
    pki = kubeadm_pki.files("cp-1", datetime.now(timezone.utc), {"apiserver": timedelta(days=days_left)})
    tls = TLSFiles(directory / "apiserver.crt", directory / "apiserver.key", directory / "ca.crt")
    for path in tls.cert, tls.key, tls.ca:
        path.write_bytes(pki[f"/etc/kubernetes/pki/{path.name}"])
    return tls


@pytest.mark.parametrize("days_left, verdict", [(364, "passed"), (8, "failed")])
def test_serving_certificate_read_over_tls(pytester: pytest.Pytester, tmp_path: Path, days_left: int,
                                           verdict: str) -> None:
    """Live: the chain comes from the TLS handshake with the API server the kubeconfig names (the
    client verifies it against the CA for every request, as `kubernetes`, one of kubeadm's names for
    it); `python -m kubeproof dump` records it for offline runs."""
    tls = serving_files(tmp_path, days_left)
    # The server's Date header is this machine's clock, as a real API server's: ages use it.
    with ReplayServer(CLUSTERS / "healthy", tls=tls, now=datetime.now(timezone.utc)) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", server_name="kubernetes")
        live = run_suite(pytester, f"--kubeconfig={kubeconfig}", select="/test_cluster_certificates.py")
        assert cli.main(["dump", str(tmp_path / "dump"), f"--kubeconfig={kubeconfig}", "--node-access=none"]) == 0
    served = tls.cert.read_text()
    recorded = open_dump(tmp_path / "dump").serving_certificate()
    assert recorded.server == server.url and recorded.chain == (served,)
    offline = run_suite(pytester, f"--from-dump={tmp_path / 'dump'}", select="/test_cluster_certificates.py")
    for results in (live, offline):
        result = results[SERVING_TEST]
        assert result["outcome"] == verdict, result["message"]
        [seen] = result["evidence"]["judged"]["certificates"]
        assert seen["subject"] == "CN=kube-apiserver" and seen["issuer"] == "CN=kubernetes"
        assert seen["notAfter"] == x509.load_pem_x509_certificate(served.encode()).not_valid_after_utc.strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        if verdict == "failed":
            assert re.search(rf"serving certificate \[0\] CN=kube-apiserver \(issuer CN=kubernetes\) expires "
                             rf"{seen['notAfter']}, in [78] days \(horizon 30 days\)", result["message"])


def test_the_client_verifies_the_serving_certificate(tmp_path: Path) -> None:
    """The TLS runs above are verified ones: addressed as 127.0.0.1, a name kubeadm does not put in the
    certificate, the real client refuses the server."""
    with ReplayServer(CLUSTERS / "healthy", tls=serving_files(tmp_path, 364)) as server:
        with api_client(str(server.write_kubeconfig(tmp_path / "kubeconfig")), "replay") as api:
            with pytest.raises(KubeproofError, match="certificate verify failed: IP address mismatch"):
                check_reachable(api, "replay")


def test_plain_http_has_no_serving_certificate_to_read(tmp_path: Path) -> None:
    with ReplayServer(CLUSTERS / "healthy") as server:
        assert cli.main(["dump", str(tmp_path / "dump"), f"--kubeconfig={server.write_kubeconfig(tmp_path / 'kc')}",
                         "--node-access=none"]) == 0
    with pytest.raises(Unavailable, match=r"holds no serving certificate \(the API server http://127\.0\.0\.1:\d+ is "
                                        r"reached over plain HTTP: it presents no serving certificate when it was written\)"):
        open_dump(tmp_path / "dump").serving_certificate()


# --- kubectl cluster-info dump ------------------------------------------------------------------

def test_kubectl_cluster_info_dump_runs_with_the_kinds_it_lacks_skipped(pytester: pytest.Pytester,
                                                                         tmp_path: Path) -> None:
    directory = write_kubectl_dump(ClusterView.from_dump(CLUSTERS / "healthy"), tmp_path / "kubectl", "json")
    results = run_suite(pytester, f"--from-dump={directory}")
    lacking = {
        SERVING_TEST: "does not record the API server's serving certificate",
        "test_cluster_certificates.py::test_trust_bundles": "does not contain mutatingwebhookconfigurations",
        "test_cluster_certificates.py::test_tls_secrets": "does not contain secrets",
        "test_namespaces.py::test_no_namespace_stuck_terminating": "does not contain namespaces",
        "test_namespaces.py::test_aggregated_apis_available": "does not contain apiservices",
        "test_services.py::test_ingress_backends_have_ready_endpoints": "does not contain ingresses",
        "test_node_registrations.py::test_calico_node_records_name_existing_nodes":
            "does not contain blockaffinities.crd.projectcalico.org",
    }
    check_verdicts("healthy", results, skips={**NOT_INSTALLED, **lacking})
    assert {t for t, r in results.items() if r["outcome"] == "skipped"} == set(lacking) | {
        t for t in NOT_INSTALLED if "dashboard" in t}
    assert sum(r["outcome"] == "passed" for r in results.values()) == ALL_TESTS - len(lacking) - 2


# --- the committed clusters -----------------------------------------------------------------------

def test_committed_variants_are_what_the_generator_writes(variants, tmp_path: Path) -> None:
    for name in variants.VARIANTS:
        fresh = variants.build(name, tmp_path)
        committed = {p.relative_to(CLUSTERS / name): p.read_bytes() for p in (CLUSTERS / name).rglob("*")}
        written = {p.relative_to(fresh): p.read_bytes() for p in fresh.rglob("*")}
        assert committed == written, name
    assert sorted(p.name for p in CLUSTERS.iterdir()) == sorted(EXPECTED)
    assert sum(p.stat().st_size for p in CLUSTERS.rglob("*") if p.is_file()) < 3_000_000


def test_variant_objects_match_their_official_schemas(variants) -> None:
    """Every object of every variant against the v1.32 OpenAPI schema (calico's against its CRD's)."""
    import kubernetes_validate  # the selftest extra; no skip: a missing validator must fail CI

    crd = yaml.safe_load((DATA / "crds" / "blockaffinities.crd.projectcalico.org.yaml").read_text())
    calico = jsonschema.Draft7Validator(crd["openAPIV3Schema"])
    unique = {json.dumps(item, sort_keys=True): item for name in EXPECTED
              for kind in KINDS for item in ClusterView.from_dump(CLUSTERS / name).list(kind.name)}
    for item in unique.values():
        if item["kind"] == "BlockAffinity":
            calico.validate(item)
        else:
            kubernetes_validate.validate(item, variants.healthy.SCHEMA_VERSION, strict=True)
    assert len(unique) > 120 and sum(i["kind"] == "BlockAffinity" for i in unique.values()) == 5
    with pytest.raises(jsonschema.ValidationError):  # the CRD schema does reject a wrong shape
        calico.validate({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity", "metadata": {},
                         "spec": {"cidr": "10.0.0.0/26", "node": "a", "state": "confirmed"}})
