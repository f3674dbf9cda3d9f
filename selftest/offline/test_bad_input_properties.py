"""Any mutation of a valid input is either read whole or refused with one KubeproofError line, never
another exception: the dump reader, the profile loader, --as-of, --hosts, --node-timeout and diff's
report check, under Hypothesis. (kubeproof has no waiver file to load.) Bounded to run in seconds."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeproof import profile as profiles
from kubeproof.audit import judged_as_of
from kubeproof.errors import KubeproofError
from kubeproof.kube.dump import open_dump
from kubeproof.kube.kinds import KINDS
from kubeproof.kube.view import ClusterView
from kubeproof.report import diff as diffs
from kubeproof.target import _check_hosts, positive_seconds
from kubeproof.times import parse_as_of
from selftest.support.paths import HEALTHY

BOUNDED = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FILES = sorted(p.name for p in HEALTHY.glob("*.json"))

# Values of every JSON type, unicode and huge numbers included.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


def _replace_somewhere(data, value, path: list[int]):
    """data with one of its values (chosen by path) replaced by value."""
    if not path or not isinstance(data, (dict, list)) or not data:
        return value
    keys = list(data) if isinstance(data, dict) else list(range(len(data)))
    key = keys[path[0] % len(keys)]
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[key] = _replace_somewhere(data[key], value, path[1:])
    return copy


def mutated(text: str, draw) -> bytes:
    how = draw(st.sampled_from(["truncate", "bytes", "value", "kind"]))
    raw = text.encode()
    if how == "truncate":
        return raw[:draw(st.integers(0, len(raw)))]
    if how == "bytes":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    data = json.loads(text)
    if how == "kind":
        value = draw(st.sampled_from([k.kind for k in KINDS] + ["List", "Secret", ""]))
        return json.dumps(_replace_somewhere(data, value, [2, 0, 0])).encode()  # items[0].kind, or near
    return json.dumps(_replace_somewhere(data, draw(json_values), draw(st.lists(st.integers(0, 50), max_size=5)))).encode()


@pytest.fixture(scope="module")
def scratch() -> Path:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


@BOUNDED
@given(data=st.data(), name=st.sampled_from(FILES))
def test_a_mutated_dump_is_read_whole_or_refused_in_one_line(scratch: Path, data, name: str) -> None:
    dump = scratch / "dump"
    shutil.rmtree(dump, ignore_errors=True)
    shutil.copytree(HEALTHY, dump)
    (dump / name).write_bytes(mutated((HEALTHY / name).read_text(), data.draw))
    try:
        opened = open_dump(dump)
        opened.check()
    except KubeproofError as exc:
        assert "\n" not in str(exc)
        return
    view = ClusterView.from_dump(dump)  # checked: every kind lists, as the judges will read it
    for kind in KINDS:
        if view.has(kind.name):
            assert all(isinstance(item["metadata"]["name"], str) for item in view.list(kind.name))
    view.now()


profile_values = json_values | st.floats() | st.integers() | st.dictionaries(st.text(max_size=30), json_values, max_size=3)


@BOUNDED
@given(overrides=st.dictionaries(st.sampled_from(sorted(profiles.load())) | st.text(max_size=10), profile_values,
                                 max_size=4),
       raw=st.none() | st.binary(max_size=40))
def test_a_profile_is_loaded_or_refused_in_one_line(scratch: Path, overrides: dict, raw: bytes | None) -> None:
    path = scratch / "profile.yaml"
    path.write_bytes(raw if raw is not None else json.dumps(overrides).encode())
    try:
        loaded = profiles.load(str(path))
    except KubeproofError as exc:
        assert "\n" not in str(exc)
        return
    for key, value in loaded.items():  # what a judge may meet: bounded numbers
        for number in (value.values() if isinstance(value, dict) else [value]):
            assert 0 <= number <= profiles.NUMBER_MOST


DUMP_DATE = datetime(2026, 9, 14, 12, tzinfo=timezone.utc)


@BOUNDED
@given(text=st.text(max_size=40) | st.datetimes().map(datetime.isoformat) | st.dates().map(str))
def test_as_of_is_a_moment_in_the_window_or_refused(text: str) -> None:
    try:
        moment = judged_as_of(parse_as_of(text), DUMP_DATE, "the dump's date")
    except KubeproofError as exc:
        assert "\n" not in str(exc)
        return
    assert DUMP_DATE <= moment and moment.year <= DUMP_DATE.year + 100
    assert moment.tzinfo is timezone.utc


@BOUNDED
@given(url=st.text(max_size=30) | st.builds("{}://{}".format, st.sampled_from(["ssh", "docker", "bogus", "local"]),
                                            st.text(max_size=15)))
def test_a_host_url_is_accepted_or_refused_in_one_line(url: str) -> None:
    try:
        _check_hosts((url,))
    except KubeproofError as exc:
        assert "\n" not in str(exc)


@BOUNDED
@given(text=st.text(max_size=20) | st.floats().map(str))
def test_node_timeout_is_finite_and_positive_or_refused(text: str) -> None:
    try:
        seconds = positive_seconds(text)
    except argparse.ArgumentTypeError:
        return
    assert 0 < seconds < float("inf")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from kubeproof.report import writing
    from kubeproof.report.records import Result

    results = [Result("t.py::test_a", ["cert-expiry"], "cluster", "cluster", None, "failed", "x")]
    written = writing.write(results, tmp_path_factory.mktemp("report"), target=None, incomplete=None, waivers=[],
                            gate={"fail_on": "minor", "exit_status": 1, "failing": ["cert-expiry"]})
    return json.loads((written / "audit.json").read_text())


@BOUNDED
@given(data=st.data())
def test_diff_reads_a_report_whole_or_refuses_it(report: dict, data) -> None:
    changed = _replace_somewhere(report, data.draw(json_values), data.draw(st.lists(st.integers(0, 40), max_size=6)))
    try:
        diffs.check(changed, "NEW")
    except KubeproofError as exc:
        assert "\n" not in str(exc)
        return
    diffs.render(diffs.diff(report, changed))
