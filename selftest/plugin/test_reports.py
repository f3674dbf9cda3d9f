"""Reports and the gate: audit.{json,md,html}, JUnit, Allure, --fail-on and the diff command.

The runs audit a recorded cluster whose node facts were gathered for real from this host, so node
and cluster results, evidence and verdicts all come from the real plugin path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kubeproof import catalog as catalogs
from kubeproof.nodes import gather, transport
from selftest.support.paths import HEALTHY, REPO

PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretsecretsecret\n-----END RSA PRIVATE KEY-----"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlc2lnbmF0dXJl"

SUITES = {
    "suite_node/test_node.py": f'''
import pytest

@pytest.mark.failure("nofile-exhaustion")
def test_nofile(node, evidence, verdict):
    evidence.attach("kubeconfig", {{"users": [{{"user": {{"token": "{TOKEN}"}}}}]}})
    evidence.attach("pem", """{PRIVATE_KEY}""")
    evidence.attach("hostname", node.facts.hostname)
    verdict.fail_if(["kubelet nofile 1024 < 102400" if FAIL_BLOCKER else ""])

@pytest.mark.failure("storage-driver")
def test_driver(node, verdict):
    verdict.fail_if(["docker storage driver devicemapper"])

FAIL_BLOCKER = {{fail_blocker}}
''',
    "suite_cluster/test_cluster.py": '''
import pytest

@pytest.mark.failure("namespace-stuck")
def test_namespaces(cluster, evidence):
    evidence.attach("namespaces", [n["metadata"]["name"] for n in cluster.list("namespaces")])
''',
}


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    """The healthy recorded cluster, with this host's real facts standing for node cp-1."""
    directory = tmp_path_factory.mktemp("reports") / "dump"
    shutil.copytree(HEALTHY, directory)
    facts = gather.gather(transport.open_host("local://"), "cp-1")
    (directory / "nodes-facts").mkdir(exist_ok=True)
    (directory / "nodes-facts" / "cp-1.json").write_text(json.dumps(facts))
    return directory


@pytest.fixture(scope="module")
def pair(dump: Path, tmp_path_factory) -> Path:
    """The same dump with this host's facts standing for worker-1 too: node findings read the same on both."""
    directory = tmp_path_factory.mktemp("pair") / "dump"
    shutil.copytree(dump, directory)
    shutil.copy(directory / "nodes-facts" / "cp-1.json", directory / "nodes-facts" / "worker-1.json")
    return directory


def run(pytester: pytest.Pytester, dump: Path, *args: str, fail_blocker: bool = True,
        subprocess_run: bool = False, nodes: str = "kubernetes.io/hostname=cp-1") -> tuple[pytest.RunResult, Path]:
    pytester.makeini("[pytest]\nkubeproof_suites =\n    suite_node:node\n    suite_cluster:cluster\n")
    for path, body in SUITES.items():
        (pytester.path / path).parent.mkdir(exist_ok=True)
        (pytester.path / path).write_text(body.replace("{fail_blocker}", str(fail_blocker)))
    reports = pytester.path / "out"
    runner = pytester.runpytest_subprocess if subprocess_run else pytester.runpytest
    result = runner(f"--from-dump={dump}", f"--report-dir={reports}", f"--nodes={nodes}", *args)
    runs = sorted(reports.iterdir()) if reports.exists() else []
    return result, (runs[-1] if runs else reports)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_audit_reports_written_with_verdicts_evidence_and_no_secrets(pytester, dump, workers) -> None:
    result, directory = run(pytester, dump, *workers, subprocess_run=bool(workers))
    result.assert_outcomes(passed=1, failed=2)
    assert f"kubeproof: audit report {directory / 'audit.html'}" in result.stdout.str()
    doc = json.loads((directory / "audit.json").read_text())
    assert doc["schema"] == "kubeproof.audit/v1"
    assert [f["id"] for f in doc["failures"]] == list(catalogs.load().ids)
    verdicts = doc["summary"]["failures"]
    assert (verdicts["nofile-exhaustion"], verdicts["storage-driver"], verdicts["namespace-stuck"]) == \
        ("fail", "fail", "pass")
    assert verdicts["cert-expiry"] == "not-run"
    assert doc["summary"]["nodes"] == {"cp-1": {"verdict": "fail",
                                                "failing": ["nofile-exhaustion", "storage-driver"]}}
    nofile = next(f for f in doc["failures"] if f["id"] == "nofile-exhaustion")["results"][0]
    assert nofile["subject"] == "node/cp-1" and "kubelet nofile 1024 < 102400" in nofile["message"]
    assert nofile["evidence"]["hostname"] == json.loads((dump / "nodes-facts/cp-1.json").read_text())["hostname"]
    namespaces = next(f for f in doc["failures"] if f["id"] == "namespace-stuck")["results"][0]
    assert "kube-system" in namespaces["evidence"]["namespaces"]
    for name in ("audit.json", "audit.md", "audit.html"):
        text = (directory / name).read_text()
        assert "PRIVATE KEY" not in text and TOKEN not in text and "secretsecret" not in text, name
    assert "## nofile-exhaustion" in (directory / "audit.md").read_text()


@pytest.mark.parametrize("fail_on, fail_blocker, status", [
    (None, False, 1),          # default: any failure fails the gate
    ("critical", False, 0),    # only the minor storage-driver failure: reported, not gating
    ("critical", True, 1),     # the blocker nofile failure gates
    ("blocker", True, 1),
])
def test_fail_on_gates_by_severity(pytester, dump, fail_on, fail_blocker, status) -> None:
    args = [f"--fail-on={fail_on}"] if fail_on else []
    result, directory = run(pytester, dump, *args, fail_blocker=fail_blocker)
    assert result.ret == status
    gate = json.loads((directory / "audit.json").read_text())["gate"]
    assert gate["exit_status"] == status
    assert ("storage-driver" in gate["failing"]) == (fail_on is None)


def test_junit_properties_and_allure_labels_under_xdist(pytester, dump) -> None:
    junit, allure_dir = pytester.path / "junit.xml", pytester.path / "allure"
    result, _ = run(pytester, dump, "-n", "2", f"--junitxml={junit}", f"--alluredir={allure_dir}",
                    subprocess_run=True)
    result.assert_outcomes(passed=1, failed=2)
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    props = {k: v for k, v in ((p.get("name"), p.get("value")) for p in cases["test_nofile[cp-1]"].iter("property"))}
    assert props == {"failure_id": "nofile-exhaustion", "severity": "blocker", "subject": "node/cp-1"}
    assert cases["test_nofile[cp-1]"].get("classname") == "suite_node.test_node"

    tests = [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]
    nofile = next(t for t in tests if t["name"].startswith("test_nofile"))
    labels = {(label["name"], label["value"]) for label in nofile["labels"]}
    assert {("epic", "nofile-exhaustion"), ("feature", "node"), ("severity", "blocker"),
            ("node", "cp-1")} <= labels
    assert any(name == "target" and value.startswith("dump ") for name, value in labels)
    attachments = {a["name"]: allure_dir / a["source"] for a in nofile["attachments"]}
    assert {"kubeconfig", "pem", "hostname", "problems"} <= set(attachments)
    everything = "".join(p.read_text(errors="replace") for p in allure_dir.iterdir())
    assert TOKEN not in everything and "secretsecret" not in everything


def diff(old: Path, new: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubeproof", "diff", str(old), str(new), *args],
                          capture_output=True, text=True)


def test_diff_shows_regressions_between_two_runs(pytester, dump, tmp_path) -> None:
    _, fixed = run(pytester, dump, fail_blocker=False)
    old = tmp_path / "old.json"
    shutil.copy(fixed / "audit.json", old)
    _, broken = run(pytester, dump, fail_blocker=True)
    regressed = diff(old, broken / "audit.json")
    assert regressed.returncode == 1
    assert ("REGRESSED  nofile-exhaustion [blocker] suite_node/test_node.py::test_nofile[cp-1] "
            "(passed -> failed): [nofile-exhaustion] node cp-1: 1 problem") in regressed.stdout
    assert "VERDICT    nofile-exhaustion: pass -> fail" in regressed.stdout
    assert regressed.stdout.strip().endswith("1 regression, 0 fixed")
    recovered = diff(broken / "audit.json", old)
    assert recovered.returncode == 0
    assert "FIXED      nofile-exhaustion suite_node/test_node.py::test_nofile[cp-1]" in recovered.stdout


def test_diff_counts_a_failing_test_that_did_not_exist_before(pytester, dump, tmp_path) -> None:
    _, directory = run(pytester, dump, fail_blocker=False)
    doc = json.loads((directory / "audit.json").read_text())
    for failure in doc["failures"]:  # last night's suite had no storage-driver test
        failure["results"] = [r for r in failure["results"] if "test_driver" not in r["test"]]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    result = json.loads(diff(old, directory / "audit.json", "--format", "json").stdout)
    assert [(r["test"], r["was"]) for r in result["regressions"]] == [
        ("suite_node/test_node.py::test_driver[cp-1]", "absent")]


@pytest.mark.parametrize("variant", ["cert-expiry", "critical-pod-eviction", "dashboard-exposure"])
def test_diff_of_the_real_suite_counts_every_test_that_now_fails(tmp_path, variant) -> None:
    """Many cluster tests share a failure id and the subject "cluster": none may hide another."""
    documents = {}
    for name in ("healthy", variant):
        subprocess.run([sys.executable, "-m", "pytest", "tests_cluster", "-q", "-p", "no:randomly",
                        f"--from-dump={HEALTHY.parent / name}", f"--report-dir={tmp_path / name}"],
                       cwd=REPO, capture_output=True, check=name == "healthy")
        documents[name] = next((tmp_path / name).glob("*/audit.json"))
    failing = {r["test"] for f in json.loads(documents[variant].read_text())["failures"]
               for r in f["results"] if r["outcome"] in ("failed", "error")}
    assert len(failing) > 1, "the variant breaks several tests of one failure id"
    result = diff(documents["healthy"], documents[variant], "--format", "json")
    assert result.returncode == 1
    regressions = json.loads(result.stdout)["regressions"]
    assert len(regressions) == len(failing)
    assert {r["test"] for r in regressions} == failing


READING_SUITE = '''
import pytest
from kubeproof.judge.judgement import Judgement

@pytest.mark.failure("workload-crashes")
def test_restarts(node, verdict):
    verdict.conclude(Judgement(["shop/web-1 container web restarted 7 times > 5"], {"pods_judged": 3},
        offenders=[{"namespace": "shop", "pod": "web-1", "node": "cp-1", "restartCount": 7, "limit": 5}]))

@pytest.mark.failure("cert-expiry")
def test_certificates(node, verdict):
    verdict.conclude(Judgement(["/etc/kubernetes/pki/apiserver.crt expired"], {
        "now": "2026-09-14T12:00:00Z",
        "certificates": [{"subject": "CN=kube-apiserver", "issuer": "CN=kubernetes",
                          "not_after": "2026-09-04T12:00:00Z", "places": ["/etc/kubernetes/pki/apiserver.crt"]}]}))

@pytest.mark.failure("namespace-stuck")
def test_skipped_for_one_reason(node):
    pytest.skip("no namespace to judge on this node")

@pytest.mark.failure("namespace-stuck")
def test_skipped_for_the_same_reason(node):
    pytest.skip("no namespace to judge on this node")
'''


class Page(HTMLParser):
    """audit.html as a reader sees it: section order, text per section, links, tables."""

    def __init__(self, html: str):
        super().__init__()
        self.sections: list[str] = []
        self.text: dict[str, str] = {}
        self.links: list[str] = []
        self.headers: list[list[str]] = [[]]
        self._in_th = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
            self.text[attrs["id"]] = ""
        elif tag == "a" and attrs.get("href", "").startswith("http"):
            self.links.append(attrs["href"])
        elif tag == "table":
            self.headers.append([])
        self._in_th = tag == "th"

    def handle_data(self, data):
        if self.sections:
            self.text[self.sections[-1]] += data
        if self._in_th:
            self.headers[-1].append(data)


def test_html_puts_what_to_fix_first_and_reads_without_json(pytester, dump) -> None:
    pytester.makeini("[pytest]\nkubeproof_suites = suite_node:node\n")
    (pytester.path / "suite_node").mkdir()
    (pytester.path / "suite_node" / "test_reading.py").write_text(READING_SUITE)
    reports = pytester.path / "out"
    # both nodes: cp-1 has facts, worker-1 none (its tests skip for that reason)
    pytester.runpytest(f"--from-dump={dump}", f"--report-dir={reports}").assert_outcomes(failed=2, skipped=6)
    html = next(reports.glob("*/audit.html")).read_text()
    page = Page(html)
    catalog = catalogs.load()

    # failures first, blocker before normal; then what passed or skipped
    assert page.sections[:2] == ["cert-expiry", "workload-crashes"]
    assert catalog["cert-expiry"].severity == "blocker" and catalog["workload-crashes"].severity == "normal"
    # the remediation once per failure, not again under each failing test
    for failure_id in ("cert-expiry", "workload-crashes"):
        assert page.text[failure_id].count(catalog[failure_id].remediation) == 1, failure_id
    # skipped tests: one line per reason, with the number of tests
    stuck = page.text["namespace-stuck"]
    assert stuck.count("no namespace to judge on this node") == 1, stuck
    assert "2 tests: no namespace to judge on this node" in stuck
    assert re.search(r"2 tests: the dump \S+ holds no facts for node worker-1", stuck), stuck
    # evidence as tables: certificates by subject, issuer, notAfter, days left; offenders by object, node
    assert ["where", "subject", "issuer", "notAfter", "days left"] in page.headers
    assert "-10.0" in page.text["cert-expiry"], "days left computed from the judged moment"
    assert ["object", "node", "restartCount", "limit"] in page.headers
    assert "shop/web-1" in page.text["workload-crashes"]
    assert not re.search(r'[{\[]\s*"', page.text["cert-expiry"] + page.text["workload-crashes"]), "no raw JSON"


def test_html_links_every_field_report_to_its_source(pytester, dump) -> None:
    _, directory = run(pytester, dump)
    page = Page((directory / "audit.html").read_text())
    zhihu = "https://zhuanlan.zhihu.com/p/343031257"
    assert {zhihu, "https://tonybai.com/tag/k8s/", "https://xuchangwei.com/"} <= set(page.links)
    assert "report 000" in page.text["cgroup-kmem-leak"] and "report 003" in page.text["cgroup-kmem-leak"]
    assert "report 001: Kubernetes集群运维踩坑记录 (2018), §2 (no public link is known for this report)" in \
        page.text["storage-driver"]
    assert "seeds/" not in "".join(page.text.values()), "no path inside the repository stands for a source"


GLANCE_NODE_SUITE = '''
import pytest
from kubeproof.judge.judgement import Judgement

@pytest.mark.failure("nofile-exhaustion")
def test_limits(node, verdict):
    verdict.fail_if(["containerd (pid 7) hard nofile 65536 < 102400 minimum (short by 36864) <b>bold</b>",
                     "kubelet (pid 9) hard nofile 1024 < 102400 minimum (short by 101376)"])

@pytest.mark.failure("cert-expiry")
def test_certificates(node, verdict):
    verdict.conclude(Judgement([], {"now": "2026-09-14T12:00:00Z", "certificates": [
        {"subject": "CN=etcd", "not_after": "2027-09-14T12:00:00Z", "places": ["/etc/kubernetes/pki/etcd.crt"]},
        {"subject": "CN=kube-apiserver", "not_after": "2026-10-14T12:00:00Z",
         "places": ["/etc/kubernetes/pki/apiserver.crt"]}]}))

@pytest.mark.failure("namespace-stuck")
def test_control_plane_only(node, verdict):
    verdict.conclude(Judgement([], {}, skip="not a control-plane node"))
'''
GLANCE_CLUSTER_SUITE = '''
import pytest
from kubeproof.judge.judgement import Judgement

@pytest.mark.failure("critical-pod-eviction")
def test_agents(cluster, verdict):
    verdict.conclude(Judgement(["DaemonSet kube-system/kindnet has no priority class"], {},
        offenders=[{"daemonset": "kindnet", "namespace": "kube-system", "priorityClassName": None}]))
'''


def region(html: str, element_id: str) -> str:
    """The text of the element with that id (one not nesting its own tag), as a reader reads it."""
    found = re.search(rf"<(\w+) id={element_id}[ >].*?</\1>", html, re.S)
    assert found, f"no element #{element_id}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(0))).split())


def test_html_and_md_give_the_audit_at_a_glance(pytester, pair) -> None:
    pytester.makeini("[pytest]\nkubeproof_suites =\n    suite_node:node\n    suite_cluster:cluster\n")
    for suite, text in (("suite_node", GLANCE_NODE_SUITE), ("suite_cluster", GLANCE_CLUSTER_SUITE)):
        (pytester.mkdir(suite) / f"test_{suite}.py").write_text(text)
    reports = pytester.path / "out"
    pytester.runpytest(f"--from-dump={pair}", f"--report-dir={reports}").assert_outcomes(
        failed=3, passed=2, skipped=2)
    html = next(reports.glob("*/audit.html")).read_text()
    md = next(reports.glob("*/audit.md")).read_text()
    catalog = catalogs.load()
    blockers, criticals = (sum(e.severity == s for e in catalog.entries) for s in ("blocker", "critical"))

    # The banner: the run's verdict, the gate, failure ids per severity: failing, waived, passed, not judged.
    banner = region(html, "verdict")
    assert banner.startswith("FAIL Gate failed: fails on minor and above."), banner
    assert "severity failing waived passed not judged" in banner
    assert f"blocker 1 0 1 {blockers - 2} critical 1 0 0 {criticals - 1}" in banner, banner
    assert f"| blocker | 1 | 0 | 1 | {blockers - 2} |" in md
    # One row per failing id: where, the worst measured value (the widest gap, not the first line), the remediation.
    summary = region(html, "summary")
    assert summary.count(catalog["nofile-exhaustion"].remediation) == 1
    assert ("nofile-exhaustion Open-file limit of 1024 breaks calico and the pod network blocker FAIL 2/2 nodes "
            "kubelet (pid 9) hard nofile 1024 < 102400 minimum (short by 101376) (worst of 2 problems) - ") in summary  # -: no history test looked
    assert "critical-pod-eviction" in summary and " kube-system/kindnet " in summary
    assert ("| [nofile-exhaustion](#nofile-exhaustion) | blocker | FAIL | 2/2 nodes | kubelet (pid 9) hard nofile "
            "1024 < 102400 minimum (short by 101376) (worst of 2 problems) |") in md
    # Escaped, never markup: a value holding HTML stays text.
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    # The passing checks in one table, with what they measured.
    passed = region(html, "passed")
    assert ("cert-expiry blocker test_certificates 2/2 nodes earliest notAfter 2026-10-14T12:00:00Z, 30.0 days left "
            "(CN=kube-apiserver, node cp-1) of 4 certificates") in passed, passed
    assert "| `suite_node/test_suite_node.py::test_certificates` | 2/2 nodes | earliest notAfter 2026-10-14T12:00:00Z" in md
    # The same finding on both nodes once, naming both; a skip reason naming each node once.
    page = Page(html)
    assert page.text["nofile-exhaustion"].count("short by 101376") == 1
    assert "FAIL 2/2 nodes — suite_node/test_suite_node.py::test_limits" in page.text["nofile-exhaustion"]
    assert "- **FAIL** 2/2 nodes — `suite_node/test_suite_node.py::test_limits`, the same on each (shown for cp-1)" in md
    assert region(html, "skipped") == "2 tests skipped: node <node>: not a control-plane node"
    assert "- 2 tests skipped: node <node>: not a control-plane node" in md
    # What "happened here" counts, said once.
    assert region(html, "legend").startswith("Happened here: how often the failure's field symptoms")
    assert "*Happened here:* how often" in md
    # Nothing of the machine that ran it: the dump by its name, no temporary or working directory.
    for text in (html, md):
        assert str(pair) not in text and str(pytester.path) not in text and tempfile.gettempdir() + "/" not in text
    assert "Target: dump dump." in md


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _cjk_families() -> set[str]:
    """Font families installed with Chinese coverage (fontconfig's view, as Chromium's)."""
    if shutil.which("fc-list") is None:
        return set()
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    return {name.strip() for line in listed.splitlines() for name in line.split(",")}


def _screenshot(page: Path, shot: Path, profile: Path) -> bytes:
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    "--window-size=1280,1400", page.as_uri()], capture_output=True, timeout=120)
    return shot.read_bytes()


CJK = re.compile(r"[\u4e00-\u9fff]")
# Added to a copy of audit.html (which runs no script): what Chromium laid out, as JSON on <body>.
LAYOUT = """<script>addEventListener("load", () => {
  const box = e => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, height: r.height}; };
  const rows = selector => [...document.querySelectorAll(selector)].map(tr => [...tr.cells].map(c => c.innerText.trim()));
  const banner = document.getElementById("verdict");
  document.body.dataset.layout = JSON.stringify({
    banner: banner && {...box(banner), text: banner.innerText, background: getComputedStyle(banner).backgroundColor},
    severities: rows("#severities tr"), failing: rows("#summary tr"),
    shared: [...document.querySelectorAll(".result.shared > p:first-child")].map(p => ({...box(p), text: p.innerText})),
    sections: Object.fromEntries([...document.querySelectorAll("section")].map(s => [s.id, s.innerText]))});
});</script>"""


def _layout(page: Path, profile: Path) -> dict:
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text().replace("</body>", LAYOUT + "</body>"))
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,1400",
                          "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, dom[-2000:]
    return json.loads(unescape(found.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
@pytest.mark.skipif(not _cjk_families(), reason="needs a CJK font: Debian's fonts-noto-cjk")
def test_html_renders_its_banner_grouping_and_chinese_titles_in_headless_chromium(pytester, pair, tmp_path) -> None:
    _, directory = run(pytester, pair, nodes="kubernetes.io/hostname in (cp-1,worker-1)")
    page = directory / "audit.html"
    html = page.read_text()
    layout = _layout(page, tmp_path / "profile")
    catalog = catalogs.load()
    # The banner, drawn at the top of the first screen in the failing colour: the verdict, the gate, and
    # failure ids per severity (nofile-exhaustion, a blocker, and storage-driver, minor, fail; namespace-stuck passes).
    banner = layout["banner"]
    assert banner and 0 <= banner["top"] < banner["bottom"] < 600, banner
    assert banner["background"] == "rgb(255, 235, 233)", banner
    assert banner["text"].split()[:6] == ["FAIL", "Gate", "failed:", "fails", "on", "minor"], banner["text"]
    not_judged = {s: sum(e.severity == s for e in catalog.entries) for s in ("blocker", "normal", "minor")}
    assert layout["severities"][0] == ["severity", "failing", "waived", "passed", "not judged"]
    assert ["blocker", "1", "0", "0", str(not_judged["blocker"] - 1)] in layout["severities"]
    assert ["normal", "0", "0", "1", str(not_judged["normal"] - 1)] in layout["severities"]
    assert ["minor", "1", "0", "0", str(not_judged["minor"] - 1)] in layout["severities"]
    assert layout["severities"][-1][:4] == ["all", "2", "0", "1"]
    assert [row[:4] for row in layout["failing"][1:]] == [
        ["nofile-exhaustion\n" + catalog["nofile-exhaustion"].title, "blocker", "FAIL", "2/2 nodes"],
        ["storage-driver\n" + catalog["storage-driver"].title, "minor", "FAIL", "2/2 nodes"]]
    # Each finding reads the same on both nodes: shown once, for both, in its section.
    assert [s["text"] for s in layout["shared"]] == ["FAIL 2/2 nodes — suite_node/test_node.py::test_nofile",
                                                      "FAIL 2/2 nodes — suite_node/test_node.py::test_driver"]
    assert all(s["height"] > 0 for s in layout["shared"])
    assert layout["sections"]["nofile-exhaustion"].count("kubelet nofile 1024 < 102400") == 1
    assert layout["sections"]["storage-driver"].count("docker storage driver devicemapper") == 1
    # The report names its CJK faces itself, and one of them is installed.
    stack = re.search(r"font:[^;]*?px/[\d.]+ ([^;}]*)", html).group(1)
    named = {family.strip().strip('"') for family in stack.split(",")}
    assert named & _cjk_families(), f"no installed CJK face in the font stack {stack}"
    png = _screenshot(page, tmp_path / "audit.png", tmp_path / "profile")
    assert png.startswith(b"\x89PNG") and len(png) > 20_000, "a rendered summary, not a blank page"
    # Drawn as glyphs, different Chinese text looks different; as missing-glyph boxes it would not.
    # The first section holds Chinese titles (report 000's, 001's), inside the 1400 pixels shot.
    assert CJK.search(html)
    swapped = tmp_path / "swapped.html"
    swapped.write_text(CJK.sub("口", html))
    assert _screenshot(swapped, tmp_path / "swapped.png", tmp_path / "profile") != png


ALLURE = shutil.which("allure")


@pytest.mark.skipif(ALLURE is None or CHROMIUM is None,
                    reason="needs Allure 3 from the npm registry and Debian's chromium (.ci/run installs both)")
def test_allure3_renders_one_html_file_without_java(pytester, dump, tmp_path) -> None:
    allure_dir = pytester.path / "allure"
    run(pytester, dump, f"--alluredir={allure_dir}")
    out = pytester.path / "allure-report"
    subprocess.run([ALLURE, "generate", "--config", str(REPO / "kubeproof" / "report" / "allurerc.mjs"),
                    "--output", str(out), str(allure_dir)], check=True, capture_output=True, timeout=300,
                   env={**os.environ, "ALLURE_NO_ANALYTICS": "true"})
    page = out / "index.html"  # Allure writes summary.json beside it for CI integrations
    html = page.read_text(errors="replace")
    assert re.findall(r"<script[^>]*\bsrc=\"(?!data:)", html) == [], "everything inlined, nothing fetched"
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    # The overview draws the epics (failure ids) and suites from the embedded results.
    assert "nofile-exhaustion" in dom and "suite_node" in dom


def test_a_test_guarding_several_failures_gates_and_is_labelled_at_the_worst(pytester, dump) -> None:
    """node-sysctls is normal, nofile-exhaustion a blocker: --fail-on=critical must still fail."""
    catalog = catalogs.load()
    assert catalog.worst_severity(["node-sysctls", "nofile-exhaustion"]) == "blocker"
    assert catalog.worst_severity(["no-such-id"]) is None
    pytester.makeini("[pytest]\nkubeproof_suites = suite_node:node\n")
    (pytester.path / "suite_node").mkdir()
    (pytester.path / "suite_node" / "test_both.py").write_text(
        'import pytest\n\n@pytest.mark.failure("node-sysctls")\n@pytest.mark.failure("nofile-exhaustion")\n'
        'def test_file_max(node, verdict):\n    verdict.fail_if(["fs.file-max 8192 < 1048576"])\n')
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(f"--from-dump={dump}", "--nodes=kubernetes.io/hostname=cp-1",
                                "--fail-on=critical", f"--junitxml={junit}",
                                f"--report-dir={pytester.path / 'out'}")
    assert result.ret == 1
    case = next(ET.parse(junit).getroot().iter("testcase"))
    assert ("severity", "blocker") in {(p.get("name"), p.get("value")) for p in case.iter("property")}
