"""The kubeproof pytest plugin: options, the audit's target and inventory, node parametrization, gates.

Registered through the `pytest11` entry point. It stays inert unless the run's paths include a
kubeproof suite (the `kubeproof_suites` ini option names them), so `pytest selftest`, `pytest --help`
or another project's tests never resolve a target or create a cluster.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import allure
import pytest

from . import catalog as catalogs
from . import home, scheduling, selection, waivers
from .audit import Audit, AuditedNode
from .errors import KubeproofError, NodeUnreachable, Unavailable
from .evidence import EVIDENCE, Evidence
from .fleet import FleetSummary
from .nodes.probe import DEFAULT_IMAGE
from .report import incomplete as incompletes, reading, writing
from .report.records import Collector, node_param, test_data, with_evidence
from .scheduling import suite_of
from .target import HELP, NODE_ACCESS, Options, check_writable, disruptive_refusal, positive_seconds
from .times import parse_as_of
from .verdict import Verdict

SUITES = ("node", "cluster", "scenario")
AUDIT = pytest.StashKey[Audit | None]()
SKIP_REASONS = pytest.StashKey[dict[str, str]]()  # suite -> why its tests skip, said once
# Set by `python -m kubeproof catalog`: collect without resolving any target.
OFFLINE = pytest.StashKey[bool]()
RESULTS = pytest.StashKey[Collector]()
REPORT_DIR = pytest.StashKey[Path | None]()
SUITE = pytest.StashKey[str | None]()  # an item's suite, decided once at collection
TEST_DATA = pytest.StashKey[dict]()  # records.test_data of a test declaring failure ids, made at collection
GATE = pytest.StashKey[str]()  # what --fail-on decided, said in the summary
WAIVERS = pytest.StashKey[tuple[waivers.Waiver, ...]]()
WAIVER_SUMMARY = pytest.StashKey[list[dict]]()  # each waiver with what it did, for the console
SELECTION = pytest.StashKey[selection.Selection | None]()
INCOMPLETE = pytest.StashKey[str | None]()  # "interrupted after N of M tests", None for a whole run


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubeproof", "kubeproof: audit a Kubernetes cluster and its nodes")
    group.addoption("--kube-context", metavar="NAME", help="audit this context of the kubeconfig (read-only)")
    group.addoption("--kubeconfig", metavar="PATH", help=HELP["kubeconfig"])
    group.addoption("--kind-cluster", metavar="NAME",
                    help=HELP["kind_cluster"] + ", instead of creating one")
    group.addoption("--keep-cluster", action="store_true",
                    help="keep the kind cluster kubeproof created (it is deleted by default)")
    group.addoption("--from-dump", metavar="DIR",
                    help="audit offline from `python -m kubeproof dump` or `kubectl cluster-info dump` output")
    group.addoption("--node-access", choices=NODE_ACCESS, default="auto", help=HELP["node_access"])
    group.addoption("--nodes", metavar="LABEL_SELECTOR", help=HELP["nodes"])
    group.addoption("--allow-disruptive", metavar="CONTEXT",
                    help="allow disruptive scenarios on this context (must name the target)")
    group.addoption("--as-of", metavar="DATE",
                    help="judge every expiry and age as of DATE (2027-03-31 or 2027-03-31T12:00:00Z), to "
                         "see what breaks by then (default: now; for a dump, the dump's date)")
    group.addoption("--profile", metavar="FILE",
                    help="thresholds overriding kubeproof/profile.yaml")
    group.addoption("--probe-image", default=DEFAULT_IMAGE, metavar="IMAGE", help=HELP["probe_image"])
    parser.addini("kubeproof_suites", type="linelist", default=[],
                  help="kubeproof suite directories relative to the rootdir, as DIR:KIND with KIND "
                       "one of node, cluster, scenario")
    group.addoption("--node-timeout", type=positive_seconds, default=120, metavar="SECONDS", help=HELP["node_timeout"])
    group.addoption("--fail-on", choices=catalogs.SEVERITIES, default="minor", metavar="SEVERITY",
                    help="exit non-zero only for failures of this severity or worse "
                         f"({', '.join(catalogs.SEVERITIES)}; default minor: any failure)")
    group.addoption("--report-dir", metavar="DIR",
                    help="write audit.{json,md,html} under DIR/<timestamp>/ (default: <rootdir>/reports)")
    group.addoption("--waivers", metavar="FILE",
                    help="accepted findings (YAML: failure, subject glob, reason, expires): a failing test "
                         "a live waiver covers is reported waived and does not fail the gate")
    group.addoption("--failures", metavar="ID[,ID...]", help="run only the tests guarding these failure ids")
    group.addoption("--min-severity", choices=catalogs.SEVERITIES, metavar="SEVERITY",
                    help="run only the tests guarding failures of this severity or worse "
                         f"({', '.join(catalogs.SEVERITIES)})")


PATH_OPTIONS = ("--kubeconfig", "--from-dump", "--profile", "--waivers")


def _check_rootdir(config: pytest.Config) -> None:
    """Refuse a rootdir pytest derived from the value of one of our path options.

    pytest picks its rootdir before plugins load, so in `--kubeconfig ~/.kube/config` it takes the
    path for a test path: the rootdir becomes ~/.kube, the project's ini (testpaths, suites) is
    lost and the wrong tests would run. The `--opt=PATH` form is not mistaken.
    """
    args = list(config.invocation_params.args)
    here = config.invocation_params.dir
    separate = [flag for flag, value in zip(args, args[1:]) if flag in PATH_OPTIONS
                and not value.startswith("-")]
    rooted_above = config.rootpath == here or config.rootpath in here.parents
    if separate and (config.inipath is None or not rooted_above):
        flag = separate[0]
        raise pytest.UsageError(
            f"kubeproof: pytest took the path after {flag} for a test path and chose the rootdir "
            f"{config.rootpath}; write {flag}=PATH (or pass --rootdir=.)")


@pytest.hookimpl(tryfirst=True)  # before xdist's, which starts the workers
def pytest_configure(config: pytest.Config) -> None:
    _check_rootdir(config)
    if home.installed() and not config.getini("kubeproof_suites") and (
            config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR):
        # An installed kubeproof run where no pytest settings name suites: audit with its own suites.
        # Their common root as the one path keeps test ids as in a checkout (tests_node/...).
        config.args = [str(home.root())]
    fitted = scheduling.fit_workers(config, suites_in_run(config))
    if fitted and config.option.verbose >= 0:
        print(fitted, file=sys.stderr)
    config.addinivalue_line("markers", "failure(id): the documented failure (catalog id) this test guards")
    config.stash[AUDIT] = None
    config.stash[SKIP_REASONS] = {}
    config.stash[RESULTS] = Collector()
    config.pluginmanager.register(config.stash[RESULTS], "kubeproof-results")
    config.pluginmanager.register(FleetSummary(), "kubeproof-fleet")
    config.stash[REPORT_DIR] = None
    try:  # before any test, on the controller and on each worker alike
        config.stash[SELECTION] = selection.parse(config.getoption("failures"), config.getoption("min_severity"))
        as_of = config.getoption("as_of")
        today = parse_as_of(as_of).date() if as_of else datetime.now(timezone.utc).date()
        path = config.getoption("waivers")
        config.stash[WAIVERS] = waivers.load(path, today) if path else ()
    except KubeproofError as exc:
        raise pytest.UsageError(f"kubeproof: {exc}") from None


def _options(config: pytest.Config) -> Options:
    get = config.getoption
    hosts = get("hosts", None)  # testinfra's own option
    return Options(
        kube_context=get("kube_context"), kubeconfig=get("kubeconfig"),
        kind_cluster=get("kind_cluster"), keep_cluster=get("keep_cluster"),
        from_dump=get("from_dump"), hosts=tuple(h for h in (hosts or "").split(",") if h),
        node_access=get("node_access"), nodes=get("nodes"), allow_disruptive=get("allow_disruptive"),
        ssh_config=get("ssh_config", None), sudo=bool(get("sudo", False)), as_of=get("as_of"),
    )


def suite_dirs(config: pytest.Config) -> dict[Path, str]:
    lines = config.getini("kubeproof_suites")
    if not lines:  # no settings (an empty directory): the suites beside or inside the package
        return home.suite_dirs()
    dirs = {}
    for line in lines:
        directory, _, suite = line.rpartition(":")
        if suite not in SUITES or not directory:
            raise pytest.UsageError(f"kubeproof_suites: {line!r} is not DIR:KIND with KIND one of "
                                    f"{', '.join(SUITES)}")
        dirs[(config.rootpath / directory).resolve()] = suite
    return dirs


def suites_in_run(config: pytest.Config) -> set[str]:
    """The suites the run's paths reach: a path inside a suite, or a suite inside a path."""
    paths = [(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args]
    return {suite for directory, suite in suite_dirs(config).items()
            if any(p == directory or directory in p.parents or p in directory.parents for p in paths)}


def _say(config: pytest.Config):
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return lambda line: print(line, file=sys.stderr)
    return lambda line: reporter.write_line(line)


def _progress(config: pytest.Config):
    """How far long steps got (a cluster created, probe pods started, LIST pages read): quiet under -q."""
    return _say(config) if config.option.verbose >= 0 else lambda line: None


@pytest.hookimpl(tryfirst=True)  # before xdist's DSession starts the workers
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        exported = config.workerinput.get("kubeproof")
        config.stash[AUDIT] = Audit.from_export(exported) if exported else None
        config.stash[SKIP_REASONS] = config.workerinput.get("kubeproof_skips", {})
        return
    suites = suites_in_run(config)
    if not suites or config.stash.get(OFFLINE, False):
        return
    options = _options(config)
    try:
        check_writable(_report_base(config), "--report-dir")
        audit = Audit.start(options, profile_path=config.getoption("profile"),
                            want_nodes=bool(suites & {"node", "scenario"}),
                            probe_image=config.getoption("probe_image"),
                            node_timeout=config.getoption("node_timeout"), say=_progress(config))
        config.stash[AUDIT] = audit
        config.stash[SKIP_REASONS] = _skip_reasons(audit, options, suites)
    except KubeproofError as exc:
        raise pytest.UsageError(f"kubeproof: {exc}") from None


def _skip_reasons(audit: Audit, options: Options, suites: set[str]) -> dict[str, str]:
    reasons = {}
    if not audit.target.has_cluster:
        reasons["cluster"] = f"no cluster: {audit.target.why_no_cluster}"
    node_skip = audit.node_skip_reason()
    if node_skip:
        reasons["node"] = node_skip
    refusal = disruptive_refusal(audit.target, options.allow_disruptive)
    if refusal:
        reasons["scenario"] = refusal
    return {suite: why for suite, why in reasons.items() if suite in suites}  # said only if it applies


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: hand every worker the one inventory resolved here."""
    audit = node.config.stash[AUDIT]
    node.workerinput["kubeproof"] = audit.export() if audit else None
    node.workerinput["kubeproof_skips"] = node.config.stash[SKIP_REASONS]


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist controller: the cluster suite on one worker, node tests spread (scheduling.py)."""
    if not suites_in_run(config) or config.stash.get(OFFLINE, False):
        return None
    return scheduling.make_scheduler(config, suite_dirs(config), log)


def pytest_unconfigure(config: pytest.Config) -> None:
    audit = config.stash.get(AUDIT, None)
    if audit is not None and not hasattr(config, "workerinput"):
        config.stash[AUDIT] = None
        try:
            audit.close()
        except KubeproofError as exc:
            _say(config)(f"kubeproof: cleanup: {exc}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    audit = config.stash.get(AUDIT, None)
    if audit is None:
        return []
    lines = [f"kubeproof: target {audit.target.describe()}"]
    if audit.nodes:
        access = sorted({n.access.split("://")[0] for n in audit.nodes})
        count = len(audit.nodes)
        lines.append(f"kubeproof: {count} node{'s' * (count != 1)} ({', '.join(access)}): "
                     + ", ".join(n.name for n in audit.nodes))
    moment = audit.moment()
    if moment:
        lines.append(f"kubeproof: {moment}")
    lines += [f"kubeproof: {suite} tests skip: {why}"
              for suite, why in config.stash[SKIP_REASONS].items()]
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "node" not in metafunc.fixturenames:
        return
    audit = metafunc.config.stash.get(AUDIT, None)
    names = [n.name for n in audit.nodes] if audit else []
    metafunc.parametrize("node", names, ids=names, indirect=True)


def _declaration_problems(item: pytest.Item, suite: str | None) -> list[str]:
    catalog = catalogs.load()
    ids = [arg for mark in item.iter_markers("failure") for arg in mark.args]
    where = item.nodeid.split("[")[0]
    if suite and not ids:
        return [f"{where}: declares no failure id; add @pytest.mark.failure(\"<id>\")"]
    return [f"{where}: unknown failure id {i!r} (the catalog has: {', '.join(catalog.ids)})"
            for i in ids if i not in catalog]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """An undeclared or unknown failure id makes its module a collection error."""
    report = yield
    if report.passed:
        dirs = suite_dirs(collector.config)
        # One item per test function: its parameters (5,000 nodes) share its declaration.
        functions = {item.nodeid.split("[")[0]: item for item in report.result if isinstance(item, pytest.Item)}
        problems = sorted({p for item in functions.values()
                           for p in _declaration_problems(item, suite_of(item.path, dirs))})
        if problems:
            report.outcome = "failed"
            report.longrepr = "\n".join(problems)
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[SELECTION]:
        selection.deselect(config, items, config.stash[SELECTION])
    reasons = config.stash[SKIP_REASONS]
    dirs = suite_dirs(config)
    audit = config.stash.get(AUDIT, None)
    suites: dict[Path, str | None] = {}  # by file: walking each item's parents showed at 5,000 nodes
    for item in items:
        if item.path not in suites:
            suites[item.path] = suite_of(item.path, dirs)
        suite = item.stash[SUITE] = suites[item.path]
        why = reasons.get(suite)
        if why:  # first, so it is the reason given, not pytest's "got empty parameter set"
            item.add_marker(pytest.mark.skip(reason=why), append=False)
        data = test_data(item, suite)
        if data["failure_ids"]:
            item.stash[TEST_DATA] = data
            _label(item, data, audit)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Each node's tests counted, so its facts go after its last (Audit.node_test_done): an xdist
    worker, sent a node's tests together (kubeproof/scheduling.py), held every node it had judged,
    600 MiB a worker at 2,000 nodes. In one process, in file order, a node's last test is in the
    last file: grouping them by node instead saved 0.5 GiB of 3.1 at 5,000 nodes, but cost pytest's
    one progress line per file (50,000 lines) and a third more CPU, so the order stays."""
    audit = session.config.stash.get(AUDIT, None)
    if audit is not None:
        audit.expect_node_tests(Counter(filter(None, map(node_param, session.items))))


def _label(item: pytest.Item, data: dict, audit: Audit | None) -> None:
    """Allure labels and JUnit properties (from the test's records.test_data): failure id, suite,
    severity, target, node, source."""
    catalog = catalogs.load()
    entries = [catalog[a] for a in data["failure_ids"] if a in catalog]
    if not entries:
        return
    severity = catalog.worst_severity(e.id for e in entries)
    node = data["node"]
    marks = _shared_marks(tuple(e.id for e in entries), data["suite"], audit.target.describe() if audit else None)
    if node:
        marks = [*marks, _node_label(node)]
    for mark in marks:
        item.add_marker(mark)
    item.user_properties += [("failure_id", e.id) for e in entries]
    item.user_properties += [("severity", severity), ("subject", data["subject"])]


@functools.lru_cache(maxsize=None)
def _node_label(node: str):
    """The Allure label of a node, made once for all its tests."""
    return allure.label("node", node)


@functools.lru_cache(maxsize=None)
def _shared_marks(failure_ids: tuple[str, ...], suite: str | None, target: str | None) -> list:
    """The Allure marks every node of a test shares, made once: at 5,000 nodes making them for each
    item took seconds of the collection."""
    catalog = catalogs.load()
    entries = [catalog[i] for i in failure_ids]
    severity = catalog.worst_severity(failure_ids)
    marks = [allure.feature(suite or "other"), allure.severity(allure.severity_level(severity))]
    marks += [allure.epic(e.id) for e in entries]
    marks += [allure.link(s.url, name=f"field report {s.report}") for e in entries for s in e.sources if s.url]
    if target is not None:
        marks.append(allure.label("target", target))
    return marks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    try:
        return (yield)
    except Unavailable as exc:
        pytest.skip(str(exc))
    except NodeUnreachable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    try:
        return (yield)
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.hookimpl(wrapper=True, trylast=True)  # innermost: Allure's wrapper sees the report as changed here
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    data = item.stash.get(TEST_DATA, None)
    if data is not None:
        evidence = item.stash.get(EVIDENCE, {}) if report.when == "call" or not report.passed else {}
        # A passed setup or teardown shares the test's data: pytest keeps every report to the end,
        # and a dict of its own for each was 0.1 GiB at 5,000 nodes.
        report.kubeproof = with_evidence(data, evidence) if evidence or report.when == "call" else data
        if report.when == "teardown":  # the report holds what the reports need; at 5,000 nodes
            item.stash[EVIDENCE] = {}  # every item keeping its own copy too was GiBs
        if report.when == "call" and report.failed and not call.excinfo.errisinstance(FINDINGS):
            report.kubeproof["unjudged"] = True
            report.longrepr = _unjudged(call.excinfo)
        elif report.when == "call" and report.failed:
            waivers.judge(item, report, item.config.stash[WAIVERS])
    return report


# What a test raises to report a finding: the verdict's pytest.fail, or a plain assert.
FINDINGS = (pytest.fail.Exception, AssertionError)


def _unjudged(excinfo: pytest.ExceptionInfo) -> str:
    """Any other exception means the input held a value the judge could not take: the test errors,
    saying so, and its failure id is not reported as failing."""
    where = excinfo.traceback[-1]
    return (f"cannot judge this input: {excinfo.typename}: {' '.join(str(excinfo.value).split())} "
            f"(at {Path(where.path).name}:{where.lineno + 1}); no verdict, not a finding")


@pytest.hookimpl(tryfirst=True)  # before pytest's own, which would call a waived finding xfailed
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    data = getattr(report, "kubeproof", None) or {}
    if report.when == "call" and data.get("unjudged"):
        return "error", "E", "ERROR"
    if report.when == "call" and report.skipped and data.get("waiver"):
        return "waived", "w", "WAIVED"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    try:
        ran = yield
    except KeyboardInterrupt:  # the test gets no report: Allure would keep its setup's passed
        incompletes.mark_cut_short(item)
        raise
    audit, node = item.config.stash.get(AUDIT, None), node_param(item)
    if audit is not None and node:
        audit.node_test_done(node)
    return ran


@pytest.hookimpl(tryfirst=True)  # before JUnit's, which writes its file: it carries INCOMPLETE too
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Controller only: apply the --fail-on gate and write the audit reports of the whole run."""
    config = session.config
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    results = list(config.stash[RESULTS].results.values())
    if not results:
        return
    fail_on = config.getoption("fail_on")
    gating = [r for r in results if r.outcome in ("failed", "error")
              and _severity(r.failure_ids) <= catalogs.SEVERITIES.index(fail_on)]
    if session.exitstatus == pytest.ExitCode.TESTS_FAILED and not gating:
        session.exitstatus = pytest.ExitCode.OK
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        waived = sum(r.outcome == "waived" for r in results)
        config.stash[GATE] = _gate_line(results, gating, fail_on) + (
            f"; {waived} waived test{'s' * (waived != 1)} not counted (--waivers)" if waived else "")
    ran, of = len(config.stash[RESULTS].finished), session.testscollected
    incomplete = None
    if session.exitstatus == pytest.ExitCode.INTERRUPTED or ran < of:
        how = "interrupted" if session.exitstatus == pytest.ExitCode.INTERRUPTED else "stopped"
        incomplete = f"{how} after {ran} of {of} tests"
    config.stash[INCOMPLETE] = incomplete
    if incomplete:
        incompletes.mark_incomplete(config, incomplete, config.stash[RESULTS].running.values())
    audit = config.stash.get(AUDIT, None)
    target = None
    if audit is not None:
        target = {"mode": audit.target.mode, "name": audit.target.name,
                  "context": audit.target.context, "description": audit.target.describe()}
    config.stash[WAIVER_SUMMARY] = waivers.summary(config.stash[WAIVERS], results)
    try:
        config.stash[REPORT_DIR] = writing.write(results, _report_base(config), target=target, gate={
            "fail_on": fail_on, "exit_status": int(session.exitstatus),
            "failing": sorted({i for r in gating for i in r.failure_ids})}, incomplete=incomplete,
            waivers=config.stash[WAIVER_SUMMARY])
    except writing.NotWritten as exc:
        _say(config)(f"kubeproof: {exc}")


def _report_base(config: pytest.Config) -> Path:
    return Path(config.getoption("report_dir") or config.rootpath / "reports")


def _gate_line(results: list, gating: list, fail_on: str) -> str:
    """What the --fail-on gate decided and why, for the console."""
    if gating:
        ids = sorted({i for r in gating for i in r.failure_ids})
        return (f"gate: failed ({len(gating)} failing test{'s' * (len(gating) != 1)} at {fail_on} severity "
                f"or worse: {', '.join(ids)})")
    below = Counter(catalogs.SEVERITIES[_severity(r.failure_ids)] for r in results
                    if r.outcome in ("failed", "error"))
    if not below:
        return "gate: passed (nothing failed)"
    said = " and ".join(f"{n} {severity}-severity" for severity, n in sorted(
        below.items(), key=lambda pair: catalogs.SEVERITIES.index(pair[0])))
    total = sum(below.values())
    return f"gate: passed ({said} failure{'s' * (total != 1)} below --fail-on={fail_on})"


def _severity(failure_ids: list[str]) -> int:
    """Index in SEVERITIES of the worst failure a test guards; a test guarding none gates always."""
    return catalogs.SEVERITIES.index(catalogs.load().worst_severity(failure_ids) or catalogs.SEVERITIES[0])


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Say once why whole groups of tests were skipped, instead of once per test."""
    reasons = Counter(report.longrepr[2].removeprefix("Skipped: ")
                      for report in terminalreporter.stats.get("skipped", [])
                      if isinstance(report.longrepr, tuple))
    for suite, why in config.stash[SKIP_REASONS].items():
        if reasons[why]:
            terminalreporter.write_line(f"kubeproof: {reasons[why]} {suite} tests skipped: {why}")
    for line in config.pluginmanager.get_plugin("kubeproof-fleet").lines():
        terminalreporter.write_line(f"kubeproof: {line}")
    for entry in config.stash.get(WAIVER_SUMMARY, []):
        terminalreporter.write_line(f"kubeproof: {reading.waiver_summary(entry)}")
    for line in (config.stash.get(INCOMPLETE, None) and f"INCOMPLETE: {config.stash[INCOMPLETE]}",
                 config.stash.get(GATE, None)):
        if line:
            terminalreporter.write_line(f"kubeproof: {line}")
    directory = config.stash.get(REPORT_DIR, None)
    if directory is not None:
        terminalreporter.write_line(f"kubeproof: audit report {directory / 'audit.html'} (also .json, .md)")


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def audit(pytestconfig: pytest.Config) -> Audit:
    """The audit run: target, inventory, profile and cluster view."""
    current = pytestconfig.stash.get(AUDIT, None)
    if current is None:
        raise Unavailable("no kubeproof suite in this run (tests_node, tests_cluster or scenarios)")
    return current


@pytest.fixture(scope="session")
def profile(audit: Audit):
    """Thresholds: kubeproof/profile.yaml overridden by --profile."""
    return audit.profile


@pytest.fixture(scope="session")
def cluster(audit: Audit):
    """The cluster view: every kind listed once per session, live or from a dump."""
    return audit.view


@pytest.fixture
def node(request: pytest.FixtureRequest, audit: Audit) -> AuditedNode:
    """One node of the inventory with its facts (gathered once per session)."""
    return audit.audited_node(request.param)


@pytest.fixture
def verdict(request: pytest.FixtureRequest) -> Verdict:
    """`verdict.fail_if(problems)`: fail naming the failure id, the node or cluster, every problem
    and the catalog's remediation."""
    # Its evidence made here, not by a fixture of its own: pytest's fixture setup (a definition
    # built for `request` each time one asks for it) is the largest part of a node test's cost.
    return Verdict(request.node, Evidence(request.node))


@pytest.fixture
def evidence(verdict: Verdict) -> Evidence:
    """Attach what a verdict was based on (facts, command output, offending objects)."""
    return verdict.evidence
