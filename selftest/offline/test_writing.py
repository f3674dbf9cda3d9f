"""audit.json written a failure entry at a time: the same bytes as the whole document at once, and
nothing left behind when the disk fills up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson

from kubeproof.report import document, writing
from kubeproof.report.records import EvidenceTexts, Result


def _results(nodes: int, serial: int = 7) -> list[Result]:
    results = []
    for i in range(nodes):
        node = f"node-{i:03d}"
        results.append(Result(f"tests_node/test_eviction.py::test_thresholds[{node}]", ["nodefs-pressure"],
                              "node", f"node/{node}", node, "failed", f"{node}: nodefs.available<10%",
                              evidence=EvidenceTexts.of({"judged": {"thresholds": {"nodefs.available": "10%"},
                                                                    "lines": ["a\nb"]}})))
        results.append(Result(f"tests_node/test_certs.py::test_not_expiring[{node}]", ["cert-expiry"], "node",
                              f"node/{node}", node, "passed",
                              evidence=EvidenceTexts.of({"judged": {"serial": serial, "名": "证书"}})))
    return results


def _doc(results: list[Result]) -> dict:
    return document.build(results, target=None, gate={"fail_on": "minor", "exit_status": 1, "failing": []})


def test_audit_json_is_the_whole_document_as_orjson_writes_it(tmp_path: Path) -> None:
    doc = _doc(_results(30))
    written = writing.write(_results(30), tmp_path, target=None, gate=doc["gate"], incomplete=None, waivers=[])
    text = (written / "audit.json").read_bytes()
    whole = {**doc, "created": json.loads(text)["created"]}
    for failure in whole["failures"]:  # evidence is held as text (EvidenceTexts) and read back parsed
        failure["results"] = [{**r, "evidence": dict(r["evidence"])} for r in failure["results"]]
    assert text == orjson.dumps(whole, option=writing.INDENT)
    nodefs = next(f for f in json.loads(text)["failures"] if f["id"] == "nodefs-pressure")
    assert nodefs["results"][0]["evidence"]["judged"]["thresholds"] == {"nodefs.available": "10%"}
    assert {p.name for p in written.iterdir()} == {"audit.json", "audit.md", "audit.html"}


def test_an_entry_orjson_refuses_is_written_by_json() -> None:
    doc = _doc(_results(2, serial=2 ** 70))  # a certificate serial past 64 bits

    class Sink:
        data = b""

        def write(self, chunk: bytes) -> None:
            self.data += chunk

    sink = Sink()
    writing.write_json(doc, sink)
    serials = [r["evidence"]["judged"]["serial"] for f in json.loads(sink.data)["failures"] for r in f["results"]
               if r["outcome"] == "passed"]
    assert serials == [2 ** 70, 2 ** 70]


def test_a_full_disk_leaves_no_report_behind(tmp_path: Path) -> None:
    """A file size limit stands in for a full disk: the write fails part way through audit.json."""
    script = f"""
import resource, signal, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from pathlib import Path
from selftest.offline.test_writing import _results
from kubeproof.report import writing
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))
try:
    writing.write(_results(300), Path({str(tmp_path)!r}), target=None,
                  gate={{"fail_on": "minor", "exit_status": 1, "failing": []}}, incomplete=None, waivers=[])
except writing.NotWritten as exc:
    print(exc)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "could not write the audit report to" in run.stdout and "File too large" in run.stdout
    assert list(tmp_path.iterdir()) == []
