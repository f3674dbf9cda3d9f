"""The cluster judges (kubeproof/judge/) on recorded objects: the committed test clusters, and small
changes to their objects for the edges the variants do not reach."""

from __future__ import annotations

import base64
import copy
from datetime import timedelta

import pytest

from kubeproof.judge.cluster import (cluster_certificates, control_plane, critical_pods, dashboard, namespaces,
                             node_conditions, node_registrations, objects, rollouts, scheduling, services,
                             workloads)
from kubeproof import times
from kubeproof.kube.view import ClusterView
from selftest.support.paths import CLUSTERS

SLICES = "endpointslices.discovery.k8s.io"
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def healthy() -> ClusterView:
    return ClusterView.from_dump(CLUSTERS / "healthy")


def cluster(name: str) -> ClusterView:
    return ClusterView.from_dump(CLUSTERS / name)


def one(view: ClusterView, kind: str, name: str) -> dict:
    """A deep copy of the named object, free to change."""
    return copy.deepcopy(next(o for o in view.list(kind) if o["metadata"]["name"] == name))


# --- reading objects ------------------------------------------------------------------------------

@pytest.mark.parametrize("image, repository, tag", [
    ("registry.k8s.io/coredns/coredns:v1.11.3", "coredns/coredns", "v1.11.3"),
    ("k8s.gcr.io/coredns:1.7.0", "coredns", "1.7.0"),
    ("calico/node:v3.29.1", "calico/node", "v3.29.1"),
    ("localhost:5000/kube-proxy@sha256:abc", "kube-proxy", None),
    ("docker.io/kubernetesui/dashboard", "kubernetesui/dashboard", None),
    ("registry.example.test:443/mirror/quay.io-cilium/cilium:v1.16.1", "mirror/quay.io-cilium/cilium", "v1.16.1"),
])
def test_image_repository_and_tag(image, repository, tag):
    assert objects.image_repository(image) == repository and objects.image_tag(image) == tag


def test_flags_as_go_reads_them():
    container = {"command": ["kube-apiserver", "--anonymous-auth=false", "--secure-port", "6443", "--profiling",
                             "--v=2"], "args": ["--v=4"]}
    assert objects.flags(container) == {"anonymous-auth": "false", "secure-port": "6443", "profiling": "true", "v": "4"}


def test_workload_of_names_the_controller(healthy):
    names = {p["metadata"]["name"]: objects.workload_of(p) for p in healthy.list("pods")}
    assert names["coredns-668d6bf9bc-2xqkt"] == "Deployment coredns"
    assert names["kube-proxy-4tx7m"] == "DaemonSet kube-proxy"
    assert names["etcd-cp-1"] == "static pod"
    assert objects.workload_of({"metadata": {"name": "x"}}) == "bare pod"


def test_parse_time_reads_micro_time():
    assert times.parse_time("2026-09-14T11:40:00.123456Z").microsecond == 123456
    assert times.parse_time(None) is None


# --- scheduling predicates ------------------------------------------------------------------------

@pytest.mark.parametrize("selector, labels, matches", [
    (None, {"a": "1"}, False),
    ({}, {"a": "1"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
])
def test_label_selectors(selector, labels, matches):
    assert scheduling.selector_matches(selector, labels) is matches


@pytest.mark.parametrize("toleration, tolerated", [
    ({"operator": "Exists"}, True),
    ({"key": "node.kubernetes.io/disk-pressure", "operator": "Exists"}, True),
    ({"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoExecute"}, False),
    ({"key": "node.kubernetes.io/disk-pressure", "value": "x"}, False),
    ({"key": "node.kubernetes.io/memory-pressure", "operator": "Exists"}, False),
])
def test_tolerations(toleration, tolerated):
    taint = {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}
    assert scheduling.tolerates([toleration], taint) is tolerated


def test_eligible_nodes_follow_the_schedulers_filters(healthy):
    nodes = healthy.list("nodes")
    plain = {"containers": []}
    assert [n["metadata"]["name"] for n in scheduling.eligible_nodes(plain, nodes)] == ["worker-1"]
    tolerant = {"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}
    assert len(scheduling.eligible_nodes(tolerant, nodes)) == 2
    pinned = {**tolerant, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["cp-1"]}]}]}}}}
    assert [n["metadata"]["name"] for n in scheduling.eligible_nodes(pinned, nodes)] == ["cp-1"]
    assert scheduling.eligible_nodes({**tolerant, "nodeSelector": {"disktype": "ssd"}}, nodes) == []
    cordoned = copy.deepcopy(nodes)
    cordoned[1]["spec"]["unschedulable"] = True
    assert [n["metadata"]["name"] for n in scheduling.eligible_nodes(tolerant, cordoned)] == ["cp-1"]
    numbered = copy.deepcopy(nodes)
    numbered[1]["metadata"]["labels"]["gpus"] = "4"
    wants = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpus", "operator": "Gt", "values": ["2"]}]}]}}}}
    assert [n["metadata"]["name"] for n in scheduling.eligible_nodes(wants, numbered)] == ["worker-1"]


# --- critical-pod-eviction ------------------------------------------------------------------------

@pytest.mark.parametrize("image, role", [
    ("docker.io/calico/node:v3.29.1", "CNI agent calico-node"),
    ("quay.io/cilium/cilium:v1.16.1", "CNI agent cilium"),
    ("quay.io/cilium/operator-generic:v1.16.1", None),
    ("docker.io/flannel/flannel:v0.26.1", "CNI agent flannel"),
    ("weaveworks/weave-kube:2.8.1", "CNI agent weave-net"),
    ("k8s.gcr.io/coredns:1.7.0", "cluster DNS CoreDNS"),
    ("registry.k8s.io/dns/k8s-dns-kube-dns:1.23.0", "cluster DNS kube-dns"),
    ("docker.io/library/nginx:1.27.3", None),
])
def test_components_are_recognised_by_image(image, role):
    component = critical_pods.component_of({"spec": {"containers": [{"image": image}]}})
    assert (component.role if component else None) == role


def test_healthy_critical_components_are_seen_and_protected(healthy):
    judgement = critical_pods.unprotected_components(healthy.list("pods"), healthy.list("nodes"))
    assert judgement.problems == []
    assert sorted({s["component"] for s in judgement.judged["critical_pods_seen"]}) == [
        "CNI agent kindnet", "cluster DNS CoreDNS", "kube-proxy"]
    judgement = critical_pods.node_agents(healthy.list("daemonsets.apps"))
    assert judgement.problems == [] and [j["daemonset"] for j in judgement.judged["node_agents"]] == [
        "kube-system/kindnet", "kube-system/kube-proxy"]


def test_a_bare_dns_pod_is_named(healthy):
    pod = one(healthy, "pods", "coredns-668d6bf9bc-2xqkt")
    del pod["metadata"]["ownerReferences"]
    pod["spec"].update(priorityClassName=None, priority=0)
    problems = critical_pods.unprotected_components([pod], healthy.list("nodes")).problems
    assert [p.split(" is ")[1][:11] for p in problems] == ["a bare pod:"]


# --- control plane --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, hours", [("8760h", 8760), ("8760h0m0s", 8760), ("1.5h", 1.5), ("90m", 1.5)])
def test_go_durations(text, hours):
    assert control_plane.go_duration(text) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["87600", "1y", "", "8760h junk"])
def test_not_go_durations(text):
    with pytest.raises(ValueError):
        control_plane.go_duration(text)


def _apiserver(healthy, *flags: str, **probe) -> dict:
    pod = one(healthy, "pods", "kube-apiserver-cp-1")
    container = pod["spec"]["containers"][0]
    container["command"] += list(flags)
    if probe:
        container["livenessProbe"]["httpGet"].update(probe)
    return pod


def test_probe_and_auth(healthy):
    def judge(pods):
        return control_plane.apiserver_probe_and_auth(pods).problems
    assert judge([_apiserver(healthy)]) == []  # anonymous auth on (the default)
    assert len(judge([_apiserver(healthy, "--anonymous-auth=false")])) == 1
    assert judge([_apiserver(healthy, "--anonymous-auth=false", scheme="HTTP", port=8080)]) == []
    assert judge([_apiserver(healthy, "--anonymous-auth=false",
                             httpHeaders=[{"name": "Authorization", "value": "Bearer x"}])]) == []
    startup = _apiserver(healthy, "--anonymous-auth=false", path="/metrics")
    startup["spec"]["containers"][0]["startupProbe"] = {"httpGet": {"path": "/livez", "port": 6443, "scheme": "HTTPS"}}
    assert "its startupProbe is an unauthenticated HTTPS GET /livez" in judge([startup])[0]
    assert judge([_apiserver(healthy, "--insecure-port=0")]) == []
    assert "--insecure-port=8080 serves the whole API" in judge([_apiserver(healthy, "--insecure-port=8080")])[0]


def test_signing_duration_defaults_and_old_flag(healthy):
    manager = one(healthy, "pods", "kube-controller-manager-cp-1")
    judgement = control_plane.signing_durations([manager], 397)
    [seen] = judgement.judged["controller_managers"]
    assert judgement.problems == [] and seen["flag"] == "(default 8760h)" and seen["days"] == 365
    manager["spec"]["containers"][0]["command"].append("--experimental-cluster-signing-duration=87600h")
    assert "--experimental-cluster-signing-duration=87600h" in control_plane.signing_durations([manager], 397).problems[0]


# --- certificates ---------------------------------------------------------------------------------

def test_certificates_seen_in_the_healthy_cluster(healthy):
    now = healthy.now()
    judgement = cluster_certificates.trust_bundles([], healthy.list("apiservices.apiregistration.k8s.io"),
                                                   healthy.list("configmaps"), now, 30)
    assert judgement.problems == [] and [s["where"] for s in judgement.judged["certificates"]] == [
        "APIService v1beta1.metrics.k8s.io caBundle", "ConfigMap kube-system/kube-root-ca.crt ca.crt (the cluster CA)"]
    judgement = cluster_certificates.tls_secrets(healthy.list("secrets"), now, 30)
    assert judgement.problems == [] and [s["where"] for s in judgement.judged["certificates"]] == [
        "Secret shop/web-tls tls.crt"]


def test_unreadable_and_not_yet_valid_certificates(healthy):
    service = one(healthy, "apiservices.apiregistration.k8s.io", "v1beta1.metrics.k8s.io")
    service["spec"]["caBundle"] = base64.b64encode(b"not a certificate").decode()
    problems = cluster_certificates.trust_bundles([], [service], [], healthy.now(), 30).problems
    assert problems[0].startswith("APIService v1beta1.metrics.k8s.io caBundle: cannot be read as PEM")
    serving = healthy.serving_certificate()
    early = healthy.now() - timedelta(days=30)
    problems = cluster_certificates.serving_chain(serving.server, list(serving.chain), early, 30).problems
    assert "is not valid before 2026-09-01T08:00:00Z" in problems[0]


# --- node conditions and events -------------------------------------------------------------------

def test_event_time_falls_back_as_events_are_written():
    assert node_conditions.event_time({"series": {"lastObservedTime": "2026-09-14T10:00:00.000000Z"},
                                       "eventTime": "2026-09-14T09:00:00.000000Z"}).hour == 10
    assert node_conditions.event_time({"eventTime": "2026-09-14T09:00:00.000000Z"}).hour == 9
    assert node_conditions.event_time({"metadata": {"creationTimestamp": "2026-09-14T08:00:00Z"}}).hour == 8


def test_eviction_events_only_inside_the_window():
    view = cluster("nodefs-pressure")
    now = view.now()
    assert len(node_conditions.eviction_events(view.list("events"), now, 24 * HOUR).problems) == 2
    assert len(node_conditions.eviction_events(view.list("events"), now, 4 * 24 * HOUR).problems) == 3
    assert node_conditions.eviction_events(view.list("events"), now, timedelta(minutes=10)).problems == []


# --- workloads ------------------------------------------------------------------------------------

def test_init_containers_count_and_the_apiserver_is_left_to_its_own_test():
    view = cluster("workload-crashes")
    pod = one(view, "pods", "chinese-user-login-server-85dfc64db4-rnqfn")
    status = pod["status"]
    status["initContainerStatuses"], status["containerStatuses"] = status["containerStatuses"], []
    assert len(workloads.crashing_containers([pod], view.now(), 24 * HOUR, 5).problems) == 1
    restarting = one(cluster("apiserver-anonymous-probe"), "pods", "kube-apiserver-cp-1")
    assert workloads.crashing_containers([restarting], view.now(), 24 * HOUR, 5).problems == []


# --- namespaces -----------------------------------------------------------------------------------

def test_stuck_namespace_remedy_follows_its_conditions():
    view = cluster("namespace-stuck")
    stuck = {ns["metadata"]["name"]: ns for ns in view.list("namespaces")}
    def problems(namespace, apiservices, limit):
        return namespaces.stuck_namespaces([namespace], apiservices, view.now(), limit).problems
    remedy = problems(stuck["old-tenant"], [], 30)[0].split("remedy: ")[1]
    assert remedy.startswith("let the controllers owning the finalizers above run") and "APIService" not in remedy
    assert "unavailable APIServices" not in problems(stuck["kubesphere-system"], None, 30)[0]  # not listable
    assert problems(stuck["scratch"], [], 30) == []
    assert len(problems(stuck["scratch"], [], 5)) == 1
    bare = copy.deepcopy(stuck["scratch"])
    del bare["status"]["conditions"]
    assert "read the namespace's status.conditions" in problems(bare, [], 5)[0]


# --- rollouts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("replicas, strategy, expected", [
    (1, None, (1, 0)),
    (4, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}, (1, 1)),
    (3, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "10%", "maxUnavailable": "10%"}}, (1, 0)),
    (3, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}}, (0, 1)),
    (3, {"type": "Recreate"}, (0, 3)),
])
def test_surge_and_unavailable_resolved_as_the_controller_does(replicas, strategy, expected):
    spec = {"replicas": replicas, **({"strategy": strategy} if strategy else {})}
    assert rollouts.surge_and_unavailable({"spec": spec}) == expected


def test_one_per_node_needs_hostname_and_its_own_pods():
    view = cluster("affinity-rollout-stall")
    room = one(view, "deployments.apps", "callbreak-room-1")
    assert rollouts.one_per_node(room)["topologyKey"] == "kubernetes.io/hostname"
    term = room["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    for change in ({"topologyKey": "topology.kubernetes.io/zone"}, {"namespaces": ["other"]},
                   {"labelSelector": {"matchLabels": {"app": "someone-else"}}}):
        assert rollouts.one_per_node({**room, "spec": {**room["spec"], "template": {**room["spec"]["template"], "spec": {
            **room["spec"]["template"]["spec"], "affinity": {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{**term, **change}]}}}}}}) is None
    roomy = copy.deepcopy(view.list("nodes")) + [one(view, "nodes", "worker-1")]
    roomy[-1]["metadata"]["name"] = roomy[-1]["metadata"]["labels"]["kubernetes.io/hostname"] = "worker-2"
    judgement = rollouts.stalling_rollouts([room], roomy, view.list("pods"))  # worker-2 has room for the surge
    assert judgement.problems == []
    assert judgement.judged["deployments_with_one_per_node"][0]["eligibleNodes"] == ["worker-1", "worker-2"]


# --- services -------------------------------------------------------------------------------------

def test_services_and_ingress_backends(healthy):
    pods, endpoints, slices = healthy.list("pods"), healthy.list("endpoints"), healthy.list(SLICES)
    judgement = services.services_without_endpoints(healthy.list("services"), pods, endpoints, slices)
    assert judgement.problems == [] and judgement.judged["services_judged"] == 3  # `kubernetes` has no selector
    judgement = services.ingress_backends_without_endpoints(
        healthy.list("ingresses.networking.k8s.io"), healthy.list("services"), pods, endpoints, slices)
    assert judgement.problems == [] and judgement.judged["backends_judged"] == 1
    ingress = one(healthy, "ingresses.networking.k8s.io", "web")
    ingress["spec"]["defaultBackend"] = {"service": {"name": "gone", "port": {"number": 80}}}
    external = one(healthy, "services", "web")
    external["spec"] = {"type": "ExternalName", "externalName": "shop.example.test"}
    assert services.ingress_backends_without_endpoints([ingress], [external], [], [], None).problems == [
        "Ingress shop/web routes default to Service shop/gone, which does not exist: 503"]


@pytest.mark.parametrize("sources", [("endpoints", None), (None, SLICES), (None, None)],
                         ids=["Endpoints", "EndpointSlices", "derived from pods"])
def test_every_readiness_source_gives_the_same_verdict(sources):
    """What the variant's Endpoints, its EndpointSlices and its pods (a kubectl dump's only source) say."""
    view = cluster("service-no-endpoints")
    endpoints, slices = (view.list(kind) if kind else None for kind in sources)
    problems = services.services_without_endpoints(view.list("services"), view.list("pods"), endpoints,
                                                   slices).problems
    assert [p.split(" has ")[0] for p in problems] == ["Service shop/api (selector app=api)",
                                                      "Service shop/worker-metrics (selector app=worker)"]


# --- hostname drift -------------------------------------------------------------------------------

def test_a_cloned_machine_id_alone_is_no_renamed_host(healthy):
    nodes = copy.deepcopy(healthy.list("nodes"))
    nodes[1]["status"]["nodeInfo"]["machineID"] = machine = nodes[0]["status"]["nodeInfo"]["machineID"]
    judgement = node_registrations.duplicate_registrations(nodes)
    assert judgement.problems == [] and judgement.judged["shared_machine_ids"] == {machine: ["cp-1", "worker-1"]}


def test_block_affinities_being_deleted_are_not_orphans():
    view = cluster("hostname-drift")
    blocks = copy.deepcopy(view.list("blockaffinities.crd.projectcalico.org"))
    assert len(node_registrations.orphaned_block_affinities(blocks, view.list("nodes")).problems) == 1
    for block in blocks:
        block["spec"]["deleted"] = "true"
    assert node_registrations.orphaned_block_affinities(blocks, view.list("nodes")).problems == []


# --- dashboard ------------------------------------------------------------------------------------

def _dashboard(image: str, *args: str) -> dict:
    deployment = copy.deepcopy(one(cluster("dashboard-exposure"), "deployments.apps", "kubernetes-dashboard"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container.update(image=image, args=list(args))
    return deployment


@pytest.mark.parametrize("image, gitversion, problem", [
    ("kubernetesui/dashboard:v2.7.0", "v1.25.4", None),
    ("kubernetesui/dashboard:v2.7.0", "v1.26.0", "is built for Kubernetes 1.25; the cluster runs 1.26"),
    ("kubernetesui/dashboard:v2.4.0", "v1.21.1", None),
    ("k8s.gcr.io/kubernetes-dashboard-amd64:v1.8.3", "v1.9.0", None),
    ("k8s.gcr.io/kubernetes-dashboard-amd64:v1.10.1", "v1.10.0", "release v1.10.1 is not in kubeproof's compatibility"),
    ("kubernetesui/dashboard@sha256:2e500d29e9d5f4a086b908eb8dfe7ecac57d2ab09d65b24f588b1d449841ef93", "v1.32.2", None),
])
def test_dashboard_versions(image, gitversion, problem):
    found = dashboard.exposure([_dashboard(image)], {"gitVersion": gitversion}, []).problems
    assert [problem in p for p in found] == ([] if problem is None else [True])


def test_dashboard_flags_and_version_source(healthy):
    judgement = dashboard.exposure([_dashboard("kubernetesui/dashboard:v2.7.0", "--enable-skip-login=false",
                                                "--authentication-mode=token")], None, healthy.list("nodes"))
    [seen] = judgement.judged["dashboards"]
    assert seen["clusterVersionFrom"] == "kubelet of worker-1" and seen["cluster"] == "1.32"
    assert judgement.problems == [
        "Dashboard kubernetes-dashboard/kubernetes-dashboard (kubernetesui/dashboard:v2.7.0) is built for Kubernetes "
        "1.25; the cluster runs 1.32 (from kubelet of worker-1): parts of it break (002: a blank page, 404s)"]


def test_dashboard_admin_through_a_group(healthy):
    binding = one(healthy, "clusterrolebindings.rbac.authorization.k8s.io", "cluster-admin")
    binding["subjects"] = [{"kind": "Group", "name": "system:serviceaccounts:kubernetes-dashboard",
                            "apiGroup": "rbac.authorization.k8s.io"}]
    problems = dashboard.admin_bindings([_dashboard("kubernetesui/dashboard:v2.7.0")], [binding]).problems
    assert "(through Group system:serviceaccounts:kubernetes-dashboard)" in problems[0]
    assert dashboard.admin_bindings([_dashboard("kubernetesui/dashboard:v2.7.0")],
                                    healthy.list("clusterrolebindings.rbac.authorization.k8s.io")).problems == []
