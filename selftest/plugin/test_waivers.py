"""Waivers (--waivers) and selection (--failures, --min-severity), on the real suites auditing the lab's
recorded dump: its findings are real (kindnet without a priority class, nofile limits of 20000)."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import pytest

from kubeproof import catalog as catalogs
from kubeproof import waivers
from kubeproof.report import diff as diffs
from kubeproof.report.records import with_evidence
from selftest.support.paths import REPO
from selftest.support.suites import one_line_error

LAB_DUMP = REPO / "selftest" / "data" / "lab" / "v1.32.4" / "kubeproof-dump"
KINDNET = "tests_cluster/test_critical_pods.py::test_node_agents_have_critical_priority"
NOFILE = "tests_node/test_open_files.py::test_node_daemons_open_file_limits[kubeproof-lab-{}]"
LIVE = (date.today() + timedelta(days=30)).isoformat()
GONE = (date.today() - timedelta(days=2)).isoformat()
FINDINGS = "--failures=critical-pod-eviction,nofile-exhaustion,pleg-unhealthy"


def waivers_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "waivers.yaml"
    path.write_text(textwrap.dedent(text))
    return f"--waivers={path}"


def audit(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> tuple[pytest.RunResult, dict]:
    reports = pytester.path / "reports"
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run(str(REPO / "tests_cluster"), str(REPO / "tests_node"), f"--from-dump={LAB_DUMP}",
                 f"--report-dir={reports}", "-p", "no:cacheprovider", *args)
    [newest] = sorted(reports.glob("*/audit.json"))[-1:] or [None]
    document = json.loads(newest.read_text()) if newest else {}
    if newest:
        newest.rename(newest.with_name("read.json"))  # the next run's report is the only audit.json
    return result, document


def results(document: dict) -> dict[str, dict]:
    """Test id -> its result, with the failure ids it guards (the document lists it under each)."""
    tests: dict[str, dict] = {}
    for failure in document["failures"]:
        for result in failure["results"]:
            tests.setdefault(result["test"], {**result, "failure_ids": []})["failure_ids"].append(failure["id"])
    return tests


def test_waived_expired_and_unused_in_every_report(pytester: pytest.Pytester, tmp_path: Path) -> None:
    waivers = waivers_file(tmp_path, f"""\
        waivers:
          - failure: critical-pod-eviction
            subject: kube-system/*
            reason: kind's own CNI, replaced in production
            expires: {LIVE}
          - failure: nofile-exhaustion
            subject: "*-worker*"
            reason: lab workers until the next image
            expires: {GONE}
          - failure: pleg-unhealthy
            reason: accepted where it never happens
            expires: {LIVE}
        """)
    junit, allure = tmp_path / "junit.xml", tmp_path / "allure"
    result, document = audit(pytester, FINDINGS, waivers, "-n", "2", f"--junitxml={junit}",
                             f"--alluredir={allure}", subprocess=True)
    out = result.stdout.str()
    # The control plane's nofile finding is not waived, the workers' waiver expired: the gate fails.
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "1 waived" in out
    assert (f"kubeproof: waiver 1 (critical-pod-eviction kube-system/*) waived 1 failing test until {LIVE}. "
            "Reason: kind's own CNI, replaced in production") in out
    assert f"kubeproof: waiver 2 (nofile-exhaustion *-worker*) EXPIRED on {GONE}: it waives nothing; 2 failing" in out
    assert "kubeproof: waiver 3 (pleg-unhealthy) unused: no failing test matched it" in out
    assert "1 waived test not counted (--waivers)" in out

    by_test = results(document)
    assert by_test[KINDNET]["outcome"] == "waived"
    assert "kube-system/kindnet" in by_test[KINDNET]["message"]  # what was accepted stays readable
    assert by_test[KINDNET]["waiver"]["reason"] == "kind's own CNI, replaced in production"
    for node in ("worker", "worker2"):
        assert by_test[NOFILE.format(node)]["outcome"] == "failed"
        assert by_test[NOFILE.format(node)]["waiver"] == {
            "number": 2, "failure": "nofile-exhaustion", "subject": "*-worker*",
            "reason": "lab workers until the next image", "expires": GONE, "expired": True}
    assert by_test[NOFILE.format("control-plane")]["waiver"] is None
    assert document["summary"]["counts"]["waived"] == 1
    assert document["summary"]["failures"]["critical-pod-eviction"] == "waived"
    assert [(w["number"], w["status"]) for w in document["waivers"]] == [(1, "waived"), (2, "expired"), (3, "unused")]

    [report] = (pytester.path / "reports").glob("*/audit.md")
    markdown = report.read_text()
    html = report.with_name("audit.html").read_text()
    for text in (markdown, html):
        assert f"Waived until {LIVE} by waiver 1: kind" in text
        assert f"Waiver 2 EXPIRED on {GONE}, so this fails again" in text
        assert "waiver 3 (pleg-unhealthy) unused" in text

    [case] = [c for c in ET.parse(junit).iter("testcase") if c.get("name") == KINDNET.split("::")[1]]
    [skipped] = case.findall("skipped")
    assert skipped.get("type") == "pytest.xfail" and "kind's own CNI" in skipped.get("message")
    assert not case.findall("failure")
    [allured] = [r for r in map(json.loads, (p.read_text() for p in allure.glob("*-result.json")))
                 if r["fullName"].endswith("test_node_agents_have_critical_priority")]
    assert allured["status"] == "skipped"
    assert "kind's own CNI" in allured["statusDetails"]["message"]


def test_a_live_waiver_keeps_the_gate_and_its_expiry_is_a_regression(pytester: pytest.Pytester,
                                                                      tmp_path: Path) -> None:
    plain, before = audit(pytester, "--failures=critical-pod-eviction")
    assert plain.ret == pytest.ExitCode.TESTS_FAILED
    text = """\
        waivers:
          - failure: critical-pod-eviction
            subject: kube-system/kind*
            reason: kind's own CNI
            expires: {}
        """
    waived, during = audit(pytester, "--failures=critical-pod-eviction", waivers_file(tmp_path, text.format(LIVE)))
    assert waived.ret == pytest.ExitCode.OK, waived.stdout.str()
    assert "gate: passed (nothing failed); 1 waived test not counted (--waivers)" in waived.stdout.str()
    expired, after = audit(pytester, "--failures=critical-pod-eviction", waivers_file(tmp_path, text.format(GONE)))
    assert expired.ret == pytest.ExitCode.TESTS_FAILED

    newly = diffs.diff(before, during)
    assert [w["test"] for w in newly["waived"]] == [KINDNET] and not newly["fixed"] and not newly["regressions"]
    [regression] = diffs.diff(during, after)["regressions"]
    assert (regression["test"], regression["was"], regression["outcome"]) == (KINDNET, "waived", "failed")


@pytest.mark.parametrize("subject, waived", [
    ("kube-system/kindnet", True), ("kube-system/*", True), ("default/*", False), ("kube-system/kube-proxy", False),
])
def test_a_cluster_test_is_waived_only_when_the_glob_covers_every_offender(
        pytester: pytest.Pytester, tmp_path: Path, subject: str, waived: bool) -> None:
    waivers = waivers_file(tmp_path, f"""\
        waivers:
          - failure: critical-pod-eviction
            subject: {subject}
            reason: accepted
            expires: {LIVE}
        """)
    _, document = audit(pytester, "--failures=critical-pod-eviction", waivers, "-k", "agents_have_critical")
    assert results(document)[KINDNET]["outcome"] == ("waived" if waived else "failed")


@pytest.mark.parametrize("text, fragment", [
    ("waivers: [{failure: nofile-exhaustion", "not YAML at line"),
    ("- failure: nofile-exhaustion\n", "expected one key, waivers"),
    ("waivers:\n  - failure: nofile-exhaustion\n    reason: r\n", "waiver 1: expires must be a date"),
    (f"waivers:\n  - failure: nofile-exhaustion\n    reason: r\n    expires: 31/12/2099\n", "expires must be a date"),
    (f"waivers:\n  - failure: no-such-failure\n    reason: r\n    expires: {LIVE}\n", "'no-such-failure' is not a catalog id"),
    (f"waivers:\n  - failure: nofile-exhaustion\n    expires: {LIVE}\n", "waiver 1: reason is missing"),
    (f"waivers:\n  - failure: nofile-exhaustion\n    reason: r\n    expires: {LIVE}\n    node: x\n", "unknown key 'node'"),
    (None, "cannot read --waivers"),
])
def test_a_malformed_waivers_file_is_one_line_before_any_test(pytester: pytest.Pytester, tmp_path: Path,
                                                             text: str | None, fragment: str) -> None:
    option = waivers_file(tmp_path, text) if text is not None else f"--waivers={tmp_path / 'missing.yaml'}"
    result, document = audit(pytester, option)
    one_line_error(result, fragment)
    assert not document and "passed" not in result.stdout.str()


def test_failures_and_min_severity_choose_the_tests(pytester: pytest.Pytester) -> None:
    catalog = catalogs.load()
    _, everything = audit(pytester)
    _, chosen = audit(pytester, "--failures=critical-pod-eviction,namespace-stuck")
    ran = results(chosen)
    assert ran and all({"critical-pod-eviction", "namespace-stuck"} & set(r["failure_ids"]) for r in ran.values())
    assert {t for t, r in results(everything).items()
            if {"critical-pod-eviction", "namespace-stuck"} & set(r["failure_ids"])} == set(ran)
    _, severe = audit(pytester, "--min-severity=blocker")
    assert results(severe) and all(catalog.worst_severity(r["failure_ids"]) == "blocker"
                                   for r in results(severe).values())
    assert len(results(severe)) < len(results(everything))
    _, both = audit(pytester, "--failures=critical-pod-eviction", "-k", "agents_have_critical")
    assert list(results(both)) == [KINDNET]


@pytest.mark.parametrize("option, fragment", [
    ("--failures=nofile-exhaustion,no-such-failure", "--failures: unknown failure id 'no-such-failure'"),
    ("--failures=,", "--failures: no failure id given"),
])
def test_an_unknown_failure_id_is_one_line(pytester: pytest.Pytester, option: str, fragment: str) -> None:
    result, document = audit(pytester, option)
    one_line_error(result, fragment)
    assert not document


def test_every_offender_must_match_the_subject() -> None:
    waiver = waivers.Waiver(1, "critical-pod-eviction", "kube-system/*", "accepted", date.today(), expired=False)

    def data(*offenders: dict, node: str | None = None) -> dict:
        return with_evidence({"failure_ids": ["critical-pod-eviction"], "node": node}, {"offenders": list(offenders)})

    kindnet = {"daemonset": "kube-system/kindnet"}
    assert waivers.covering([waiver], data(kindnet)) == waiver
    assert waivers.covering([waiver], data(kindnet, {"daemonset": "monitoring/agent"})) is None
    assert waivers.covering([waiver], data(kindnet, {"note": "an offender naming no object"})) is None
    assert waivers.covering([waiver], data()) is None  # no offender named: only a waiver without subject
    assert waivers.covering([waiver], data(node="kube-system/x")) == waiver  # a node test: its node name
