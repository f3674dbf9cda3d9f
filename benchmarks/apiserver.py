"""The scale benchmark's real API server: etcd and kube-apiserver from the lab's binaries
(selftest/lab, its default Kubernetes release), host processes on loopback, holding the synthetic cluster.

    with ApiServer(nodes, workdir) as server:   # populated through the API, or from the cache
        server.kubeconfig, server.counts()

Only etcd and the API server run: no controller, scheduler or kubelet acts on the 5,000 fake
Nodes and 150,000 Pods. Every object is created through the API (POST, then a merge PATCH of
`/status` for the kinds whose status a create resets), concurrently. Admission plugins that would
rewrite the objects (the Priority plugin's computed priority, the not-ready taint on new Nodes,
the default ServiceAccount that no controller creates here) are off; Services get their cluster IP
from the apiserver (the synthetic ones repeat every 256 namespaces). The populated etcd data
directory is kept under ~/.cache/kubeproof-scale, keyed by the dataset (the generators, this
loader, the node count and the binaries' versions), so warm runs skip populating.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterable

import orjson
import synthetic

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from selftest.lab import build, pins  # noqa: E402  (the lab's binaries and where they are)

CACHE = Path(os.environ.get("KUBEPROOF_SCALE_CACHE", Path.home() / ".cache" / "kubeproof-scale"))
TOKEN = "kubeproof-scale-admin"  # a static token of system:masters, for the benchmark's loopback server
STARTUP_TIMEOUT = 600  # seconds: with 264,555 objects the apiserver fills its watch cache first
POSTERS = 24  # concurrent requests while populating
# Kinds whose status a create resets (their strategies' PrepareForCreate): set by a second request.
STATUS_RESET = {"Pod", "Service", "Deployment", "ReplicaSet", "DaemonSet", "Ingress", "APIService"}
# Created last: a webhook or an aggregated API would otherwise be called while the rest is created.
LAST = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService"}
LOADER = 1  # part of the dataset's key: raise it when what populate() creates changes
ADMISSION_OFF = "ServiceAccount,Priority,TaintNodesByCondition,DefaultTolerationSeconds,LimitRanger,ResourceQuota"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dataset_key(nodes: int) -> str:
    digest = hashlib.sha256(f"{nodes} {pins.DEFAULT.kubernetes} {pins.DEFAULT.etcd} {LOADER}".encode())
    for path in (Path(synthetic.__file__), synthetic.HEALTHY):
        digest.update(path.read_bytes())
    return f"{nodes}-{digest.hexdigest()[:12]}"


def _path(obj: dict, status: bool = False) -> str:
    """Where obj is created (its collection), or its status subresource."""
    group, _, version = obj["apiVersion"].rpartition("/")
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    plural = PLURALS.get(obj["kind"]) or obj["kind"].lower() + "s"
    namespace = obj["metadata"].get("namespace")
    collection = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    return f"{collection}/{obj['metadata']['name']}/status" if status else collection


PLURALS = {"Endpoints": "endpoints", "Ingress": "ingresses", "PriorityClass": "priorityclasses"}


def _as_created(obj: dict) -> dict:
    """obj as a client sends it: no resourceVersion (refused on create), no managedFields (the
    apiserver records its own, for the create and for the status write), Services without the
    synthetic cluster IP (the apiserver allocates one)."""
    obj = {**obj, "metadata": {k: v for k, v in obj["metadata"].items()
                               if k not in ("resourceVersion", "managedFields")}}
    if obj["kind"] == "Service" and obj["spec"].get("clusterIP") not in (None, "None"):
        obj["spec"] = {k: v for k, v in obj["spec"].items() if k not in ("clusterIP", "clusterIPs")}
    return obj


class Client:
    """One keep-alive HTTPS connection to the apiserver, as the admin token."""

    def __init__(self, port: int):
        self.port = port
        self.connection = self._connect()
        self.headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=120,
                                           context=ssl._create_unverified_context())

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, bytes]:
        headers = {**self.headers, "Content-Type": content_type} if body is not None else self.headers
        try:
            return self._send(method, path, body, headers)
        except (ConnectionError, http.client.HTTPException, ssl.SSLError):
            self.connection.close()  # the server closed an idle connection: once more on a new one
            self.connection = self._connect()
            return self._send(method, path, body, headers)

    def _send(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        self.connection.request(method, path, body, headers)
        response = self.connection.getresponse()
        return response.status, response.read()


def _create(client: Client, obj: dict) -> None:
    status, body = client.request("POST", _path(obj), orjson.dumps(obj))
    if status == 409:
        return  # made by the apiserver itself (default, kube-system, kubernetes, system classes...) or retried
    if status not in (200, 201):
        raise RuntimeError(f"POST {_path(obj)}: {status} {body[:400].decode(errors='replace')}")
    if obj["kind"] in STATUS_RESET and obj.get("status"):
        status, body = client.request("PATCH", _path(obj, status=True), orjson.dumps({"status": obj["status"]}),
                                      "application/merge-patch+json")
        if status != 200:
            raise RuntimeError(f"PATCH {_path(obj, True)}: {status} {body[:400].decode(errors='replace')}")


def populate(port: int, objects: Iterable[dict], posters: int = POSTERS, say=print) -> dict:
    """Create the objects through the API; namespaces first and one at a time (their objects follow
    them in the stream), the rest by `posters` threads. Returns the count per kind."""
    work: queue.Queue = queue.Queue(maxsize=posters * 50)
    errors: list[BaseException] = []

    def poster() -> None:
        client = Client(port)
        while (obj := work.get()) is not None:
            try:
                if not errors:
                    _create(client, obj)
            except BaseException as exc:  # reported by the generating thread
                errors.append(exc)

    threads = [threading.Thread(target=poster, daemon=True) for _ in range(posters)]
    for thread in threads:
        thread.start()
    counts: dict[str, int] = {}
    last: list[dict] = []
    first = Client(port)
    started = time.monotonic()
    for index, obj in enumerate(map(_as_created, objects), 1):
        counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
        if index % 20000 == 0:
            say(f"apiserver: {index:,} objects sent in {time.monotonic() - started:.0f} s")
        if errors:
            break
        if obj["kind"] == "Namespace":
            _create(first, obj)
        elif obj["kind"] in LAST:
            last.append(obj)
        else:
            work.put(obj)
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    for obj in last if not errors else ():
        _create(first, obj)
    if errors:
        raise errors[0]
    return counts


class ApiServer:
    """etcd + kube-apiserver on loopback holding the synthetic cluster of `nodes` nodes."""

    def __init__(self, nodes: int, workdir: Path, say=print):
        self.nodes = nodes
        self.workdir = workdir
        self.say = say
        self.data = CACHE / f"etcd-{dataset_key(nodes)}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.kubeconfig = workdir / "kubeconfig"
        self.ready: dict = {}

    def __enter__(self) -> "ApiServer":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, **env})
        self.processes[name] = process
        return process

    def start(self) -> None:
        build.ensure_binaries((pins.DEFAULT,))
        started = time.monotonic()
        populated = self.data / "populated.json"
        populated_s = None
        if not populated.exists():
            shutil.rmtree(self.data, ignore_errors=True)  # a population that did not finish
            self.data.mkdir(parents=True)
            # Go's collector takes half the apiserver's CPU while 278,000 objects are written; a
            # laxer one populates faster. The benchmark then measures a server started afresh,
            # with Go's defaults, the same on every run.
            self._run({"GOGC": "400"})
            self.say(f"apiserver: populating {self.nodes} nodes through the API ...")
            counts = populate(self.port, synthetic.cluster(self.nodes), say=self.say)
            populated_s = round(time.monotonic() - started, 1)
            self.stop()
            populated.write_text(json.dumps({"objects": counts, "populated_s": populated_s}))
        else:
            self.say(f"apiserver: {self.nodes} nodes from the cache {self.data}")
        self._run({})
        self.ready = {**json.loads(populated.read_text()), "populated_now": populated_s is not None,
                      "url": f"https://127.0.0.1:{self.port}", "start_s": round(time.monotonic() - started, 1)}

    def _run(self, env: dict[str, str]) -> None:
        """etcd and kube-apiserver on the cached data directory, until the apiserver is ready."""
        etcd_port, peer_port, self.port = _free_port(), _free_port(), _free_port()
        self._spawn("etcd", [
            str(pins.DEFAULT.bin / "etcd"), "--data-dir", str(self.data / "etcd"), "--name", "scale",
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"scale=http://127.0.0.1:{peer_port}",
            # A benchmark's store: 278,000 objects written twice take GiBs; a lost write is a rebuild.
            "--quota-backend-bytes", str(16 * 2**30), "--unsafe-no-fsync", "--snapshot-count", "100000"], env)
        key = self.workdir / "sa.key"
        if not key.exists():
            subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{TOKEN},kubeproof-scale,kubeproof-scale,"system:masters"\n')
        self._spawn("kube-apiserver", [
            str(pins.DEFAULT.bin / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", f"--secure-port={self.port}", f"--cert-dir={self.workdir / 'certs'}",
            f"--token-auth-file={tokens}", "--authorization-mode=RBAC", "--allow-privileged=true",
            f"--service-account-key-file={key}", f"--service-account-signing-key-file={key}",
            "--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.96.0.0/12",
            f"--disable-admission-plugins={ADMISSION_OFF}", "--enable-priority-and-fairness=false",
            "--max-requests-inflight=0", "--max-mutating-requests-inflight=0"], env)
        self._wait_ready()
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "scale",
            # The apiserver's self-signed serving certificate, followed by the CA that signed it.
            "clusters": [{"name": "scale", "cluster": {"server": f"https://127.0.0.1:{self.port}",
                                                       "certificate-authority": str(self.workdir / "certs" / "apiserver.crt")}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "scale", "context": {"cluster": "scale", "user": "admin"}}]}))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited {process.returncode}:\n{tail}")
            try:
                if Client(self.port).request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"kube-apiserver not ready after {STARTUP_TIMEOUT} s")

    def stop(self) -> None:
        for name in ("kube-apiserver", "etcd"):
            process = self.processes.pop(name, None)
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)  # only the processes started here, by pid
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()

    # -- what the benchmark reads of it ------------------------------------------------------

    def counts(self) -> dict[str, float]:
        """Cumulative, as the benchmark's servers report them: requests and LISTs the apiserver
        answered (apiserver_request_total: /metrics itself is not counted, the apiserver's own
        background requests, a few every 10 s, are), response bytes
        (apiserver_response_sizes), and the CPU seconds kube-apiserver and etcd used so far."""
        status, body = Client(self.port).request("GET", "/metrics")
        if status != 200:
            raise RuntimeError(f"GET /metrics: {status}")
        result = {"requests": 0, "lists": 0, "bytes": 0}
        for line in body.decode().splitlines():
            name, _, rest = line.partition("{")
            if name not in ("apiserver_request_total", "apiserver_response_sizes_sum"):
                continue
            labels, value = rest.rsplit("} ", 1)
            if name == "apiserver_response_sizes_sum":
                result["bytes"] += int(float(value))
                continue
            result["requests"] += int(float(value))
            result["lists"] += int(float(value)) if 'verb="LIST"' in labels else 0
        ticks = os.sysconf("SC_CLK_TCK")
        for name, process in self.processes.items():
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime and stime, fields 14 and 15 of proc(5)
            result[f"{name}_cpu_s"] = (int(fields[11]) + int(fields[12])) / ticks
        return result


if __name__ == "__main__":  # populate (or check) the cache: python benchmarks/apiserver.py NODES
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kubeproof-apiserver-") as directory:
        with ApiServer(int(sys.argv[1]), Path(directory)) as server:
            print(json.dumps(server.ready))
