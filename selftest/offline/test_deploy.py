"""kubeproof in the cluster, offline: the in-cluster configuration chosen in a pod, the CronJob's manifests,
the image builder's reading of its base. selftest/live/test_in_cluster_live.py runs the whole of it on the lab."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import yaml
from kubernetes.config import incluster_config

from kubeproof import target
from kubeproof.deploy import image, manifests
from kubeproof.errors import KubeproofError
from kubeproof.kube import client as kube_client


@pytest.fixture
def in_a_pod(tmp_path: Path, monkeypatch) -> Path:
    """This process as kubeproof sees it in a pod: the service host variables, the service account's
    token and CA, no kubeconfig. Returns where a kubeconfig would be found."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token")
    (account / "ca.crt").write_text("not read until a request")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(account / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    kubeconfig = tmp_path / "kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return kubeconfig


def test_in_a_pod_without_kubeconfig_the_target_is_its_own_cluster(in_a_pod: Path, tmp_path: Path):
    resolved = target.resolve(target.Options(), tmp_path, say=print)
    assert (resolved.mode, resolved.name, resolved.context) == ("context", "in-cluster", None)
    assert resolved.describe() == "the cluster this pod runs in"
    assert target.disruptive_refusal(resolved, None) == "disruptive scenario: never run on the cluster this pod runs in"
    api = kube_client.api_client(resolved.kubeconfig, resolved.context)
    assert api.configuration.host == "https://10.96.0.1:443"
    assert api.configuration.api_key["BearerToken"] == "bearer pod-token"  # as the client library sends it
    assert api.configuration.retries is False  # fails fast, as from a kubeconfig


def test_a_kubeconfig_or_a_context_wins_over_the_pod(in_a_pod: Path, tmp_path: Path):
    assert kube_client.in_cluster(None, None)
    assert not kube_client.in_cluster(None, "prod")  # a named context must come from a kubeconfig
    with pytest.raises(KubeproofError, match="no kubeconfig for context 'prod'"):
        kube_client.choose_context(None, "prod")
    in_a_pod.write_text("apiVersion: v1\nkind: Config\n")  # kubectl would read this one, so kubeproof does
    assert not kube_client.in_cluster(None, None)


def objects(stream: str) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(stream)}


def test_manifests_bind_the_cronjobs_service_account_to_both_shipped_roles():
    rendered = objects(manifests.render(image="registry.example/kubeproof:1", probe_image="mirror/busybox:1.36",
                                        fail_on="blocker", schedule="15 2 * * *"))
    cronjob = rendered["CronJob", "kubeproof-audit"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    account = pod["serviceAccountName"]
    namespace = cronjob["metadata"]["namespace"]
    assert ("ServiceAccount", account) in rendered and ("Namespace", namespace) in rendered
    bound = {b["roleRef"]["name"] for (kind, _), b in rendered.items() if kind == "ClusterRoleBinding"
             and b["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]}
    shipped = {d["metadata"]["name"]: d for name in manifests.ROLES
               for d in yaml.safe_load_all((manifests.home.PACKAGE / "rbac" / name).read_text())
               if d["kind"] == "ClusterRole"}
    assert bound == set(shipped) == {"kubeproof-audit-readonly", "kubeproof-node-probe"}
    assert all(rendered["ClusterRole", name] == role for name, role in shipped.items())
    [container] = pod["containers"]
    assert container["image"] == "registry.example/kubeproof:1"
    assert {"--node-access=pod", "--fail-on=blocker", "--probe-image=mirror/busybox:1.36",
            "--report-dir=/reports"} <= set(container["args"])
    assert cronjob["spec"]["schedule"] == "15 2 * * *"
    assert pod["restartPolicy"] == "Never" and cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_manifests_keep_the_templates_values_unless_given_and_validate():
    import kubernetes_validate  # the selftest extra; no skip: a missing validator must fail CI

    stream = manifests.render(reports_claim="kubeproof-reports")
    for document in yaml.safe_load_all(stream):
        kubernetes_validate.validate(document, "1.37", strict=True)
    cronjob = objects(stream)["CronJob", "kubeproof-audit"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    template = objects(manifests.TEMPLATE.read_text())["CronJob", "kubeproof-audit"]
    assert pod["containers"][0]["args"] == template["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert pod["containers"][0]["image"] == manifests.default_image()
    assert pod["volumes"] == [{"name": "reports", "persistentVolumeClaim": {"claimName": "kubeproof-reports"}}]


def _base_tarball(path: Path, *members: str) -> Path:
    with tarfile.open(path, "w") as tar:
        for name in members:
            tar.addfile(tarfile.TarInfo(name))
    return path


def test_image_base_python_is_found_in_a_directory_or_a_tarball(tmp_path: Path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr/lib/python3.11").mkdir(parents=True)
    (rootfs / "usr/lib/python3.11/os.py").touch()
    (rootfs / "usr/lib/python3").mkdir()  # Debian's dist-packages directory, not a Python
    assert image.python_minor(rootfs) == "3.11"
    exported = _base_tarball(tmp_path / "slim.tar", "./usr/local/lib/python3.12/os.py", "./usr/bin/sh")
    assert image.python_minor(exported) == "3.12"
    with pytest.raises(KubeproofError, match="found no Python standard library"):
        image.python_minor(_base_tarball(tmp_path / "busybox.tar", "bin/busybox"))
    with pytest.raises(KubeproofError, match="found Pythons 3.11, 3.12"):
        image.python_minor(_base_tarball(tmp_path / "two.tar", "usr/lib/python3.11/os.py",
                                         "usr/local/lib/python3.12/os.py"))
