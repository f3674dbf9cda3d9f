"""The fault primitives run for real: cgroups on this host and in a node container, a fill file on a
loop-mounted ext4, faketime around TLS clients, descriptor exhaustion, and the journal's sweep
after a crash. No cluster is needed; each test leaves nothing behind (no cgroup, mount, loop device,
container or process).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from filelock import FileLock

from kubeadm_pki import key_pem, mint, pem  # not `import kubeadm_pki`: a fixture below has that name
from kubeproof.faults import cgroups, descriptors, disk, pki, tls
from kubeproof.faults.journal import Journal, sweep
from kubeproof.faults.node import FaultError, NodeShell
from kubeproof.faults.waiting import wait_for

MiB = 2 ** 20
JOURNALS = os.path.join(tempfile.gettempdir(), "kubeproof-selftest-journals")
TOLERANCE = 16  # dying cgroups other tests' containers come and go with meanwhile
MEMORY = Path("/sys/fs/cgroup/memory")
needs_memory_v1 = pytest.mark.skipif(not (MEMORY / "cgroup.procs").exists(),
                                     reason="needs the cgroup v1 memory hierarchy at /sys/fs/cgroup/memory")


@pytest.fixture
def host() -> NodeShell:
    return NodeShell("local://")


@pytest.fixture
def one_host_fault_at_a_time():
    """Memory cgroup counts are host-wide, and so is the selftests' journal root: one test using
    them at a time, across xdist workers and concurrent runs."""
    with FileLock(os.path.join(tempfile.gettempdir(), "kubeproof-selftest-faults.lock")):
        yield


@pytest.fixture
def journal_root(one_host_fault_at_a_time):
    """The host tests' journal root. It outlives a killed run (a tmp_path would be rotated away
    with its journals): what one left is swept before, what this test left after, and the root is
    gone once every journal is undone."""
    host = NodeShell("local://")
    sweep(host, JOURNALS)
    yield JOURNALS
    sweep(host, JOURNALS)
    assert not Path(JOURNALS).exists(), f"journal root left behind: {list(Path(JOURNALS).rglob('*'))}"


def _kubeproof_cgroups() -> list[str]:
    return sorted(p.name for p in MEMORY.glob("kubeproof-*"))


def _held_until_released(node: NodeShell, baseline: cgroups.CgroupCount, charged: int, release) -> None:
    """The uncharged cgroups are released within a moment, the charged ones stay dying until their
    memory is freed. Judged by the drop at release: the host-wide count also moves with the
    containers other tests start and remove."""
    held, _ = cgroups.settle(node, baseline.dying + charged + TOLERANCE, timeout=30)
    release()
    after, _ = cgroups.settle(node, held.dying - charged + TOLERANCE, timeout=30)
    assert held.dying - after.dying >= charged - TOLERANCE, (baseline, held, after)


def _churn_and_settle(node: NodeShell, journal: Journal, count: int, charged: int) -> cgroups.Churn:
    baseline = cgroups.count(node)
    churned = cgroups.churn(journal, count, charged)
    assert churned.made == count and churned.peak.num_cgroups >= count, churned
    _held_until_released(node, baseline, charged, lambda: cgroups.release(node, churned))
    journal.undo()
    return churned


@needs_memory_v1
def test_cgroup_churn_on_the_host_returns_to_baseline(host, journal_root):
    churned = _churn_and_settle(host, Journal(host, "selftest", root=journal_root), 3000, 300)
    assert churned.peak.root == str(MEMORY)
    assert _kubeproof_cgroups() == []
    assert not Path(churned.charge_dir).exists()


@needs_memory_v1
def test_cgroup_churn_inside_a_node_container(node_container, one_host_fault_at_a_time):
    name = node_container()  # its /sys/fs/cgroup is the host's, bound read-write (LAB-NOTES)
    node = NodeShell(f"docker://{name}")
    journal = Journal(node, "selftest")
    try:
        _churn_and_settle(node, journal, 2000, 200)
    finally:
        journal.undo()  # the cgroups are the host's: they outlive the container
    assert _kubeproof_cgroups() == []
    assert node.run(f"test -e {journal.path}").rc != 0


@pytest.fixture
def ext4(tmp_path: Path):
    """A 256 MiB ext4 loop-mounted at a kubeproof-named directory; unmounted and detached after."""
    image, mount = tmp_path / "kubeproof-fs.img", tmp_path / "kubeproof-mnt"
    mount.mkdir()
    subprocess.run(["truncate", "-s", "256M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        # mount -o loop sets autoclear: the kernel detaches the device shortly after the umount.
        wait_for(f"the loop device of {image} detached", lambda: subprocess.run(
            ["losetup", "-j", str(image)], capture_output=True, text=True).stdout.strip(),
            until=lambda attached: not attached, timeout=10, interval=0.1)


def _available(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def test_fill_file_on_a_loop_mounted_ext4(host, ext4, journal_root):
    journal = Journal(host, "selftest", root=journal_root)
    before = _available(ext4)
    assert disk.space(host, str(ext4)) == disk.Space(before, os.statvfs(ext4).f_blocks * os.statvfs(ext4).f_frsize)
    filled = disk.fill(journal, str(ext4), 128 * MiB)
    during = _available(ext4)
    assert 128 * MiB <= before - during < 129 * MiB, (before, during)
    assert disk.space(host, str(ext4)).available == during
    assert Path(filled.path).name.startswith("kubeproof-fill-")
    journal.undo()  # the fill is removed by the journal's undo, as a scenario's restore does
    assert _available(ext4) == before and not Path(filled.path).exists()


def test_a_fill_left_by_a_crash_is_swept(host, ext4, journal_root):
    filled = disk.fill(Journal(host, "selftest", root=journal_root), str(ext4), 64 * MiB)
    assert sweep(host, journal_root) and not Path(filled.path).exists()


def test_the_journal_refuses_to_remove_paths_kubeproof_did_not_name(host, journal_root):
    journal = Journal(host, "selftest", root=journal_root)
    for path in ("/etc", "/var/lib/kubelet", "relative/kubeproof-x"):
        with pytest.raises(FaultError, match="not a kubeproof-named path"):
            journal.record("remove", path)
    assert not Path(journal_root).exists()


# -- faketime and TLS ---------------------------------------------------------------------------

def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rsa_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key_pem(key, serialization.PrivateFormat.TraditionalOpenSSL)  # PKCS#1, as kubeadm writes RSA keys


@pytest.fixture(scope="module")
def kubeadm_pki(tmp_path_factory) -> Path:
    """/etc/kubernetes/pki as kubeadm lays it out: a ten-year CA, a one-year apiserver certificate
    with kubeadm's names and usages."""
    pki_dir = tmp_path_factory.mktemp("pki")
    now = datetime.now(timezone.utc)
    ca, ca_key = mint("kubernetes", key=_rsa_key(), ca=True,
                      not_before=now - timedelta(minutes=5), not_after=now + timedelta(days=3650),
                      key_usage=("digital_signature", "key_encipherment", "key_cert_sign"))
    server, server_key = mint("kube-apiserver", key=_rsa_key(), issuer=(ca, ca_key), usage="server",
                              not_before=now - timedelta(minutes=5), not_after=now + timedelta(days=365),
                              sans=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                    "kubernetes.default.svc.cluster.local", "localhost", "10.96.0.1", "127.0.0.1"),
                              key_usage=("digital_signature", "key_encipherment"))
    for file, data in (("ca.crt", pem(ca)), ("ca.key", _rsa_pem(ca_key)), ("apiserver.crt", pem(server)),
                       ("apiserver.key", _rsa_pem(server_key))):
        (pki_dir / file).write_bytes(data)
    return pki_dir


def _serve(cert: Path, key: Path):
    """A TLS server on 127.0.0.1 presenting cert; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (OSError, ssl.SSLError):
                pass  # clients that refuse the certificate abort the handshake

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.fixture(scope="module")
def expiring_server(kubeadm_pki: Path, tmp_path_factory):
    """The apiserver certificate re-issued (pki.reissue, as the cert-expiry scenario does) to
    expire in one day, served on 127.0.0.1: (port, its notAfter)."""
    now = datetime.now(timezone.utc)
    short = pki.reissue((kubeadm_pki / "apiserver.crt").read_bytes(), (kubeadm_pki / "ca.crt").read_bytes(),
                        (kubeadm_pki / "ca.key").read_bytes(), not_before=now - timedelta(hours=1),
                        not_after=now + timedelta(days=1))
    cert = tmp_path_factory.mktemp("served") / "apiserver.crt"
    cert.write_bytes(short)
    for port in _serve(cert, kubeadm_pki / "apiserver.key"):
        yield port, pki.not_after(short)


@pytest.fixture(scope="module")
def yearly_server(kubeadm_pki: Path):
    yield from _serve(kubeadm_pki / "apiserver.crt", kubeadm_pki / "apiserver.key")


@pytest.mark.parametrize("client", tls.CLIENTS)
def test_faketime_past_not_after_reproduces_certificate_has_expired(client, kubeadm_pki, expiring_server,
                                                                     yearly_server):
    port, not_after = expiring_server
    cafile = str(kubeadm_pki / "ca.crt")
    now = tls.verify("127.0.0.1", port, cafile, client=client)
    assert now.ok, now
    before = tls.verify("127.0.0.1", port, cafile, at=not_after - timedelta(hours=2), client=client)
    assert before.ok, before
    after = tls.verify("127.0.0.1", port, cafile, at=not_after + timedelta(days=1), client=client)
    assert (after.ok, after.verify_code, after.message) == (False, tls.EXPIRED, "certificate has expired")
    early = tls.verify("127.0.0.1", port, cafile, at=datetime.now(timezone.utc) - timedelta(days=2), client=client)
    assert (early.ok, early.verify_code) == (False, tls.NOT_YET_VALID)
    # The same faked day with kubeadm's one-year certificate: only the re-issued dates fail.
    assert tls.verify("127.0.0.1", yearly_server, cafile, at=not_after + timedelta(days=1), client=client).ok


def test_a_reissued_certificate_keeps_names_usages_and_key(kubeadm_pki):
    original = x509.load_pem_x509_certificate((kubeadm_pki / "apiserver.crt").read_bytes())
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    again = x509.load_pem_x509_certificate(pki.reissue(
        original.public_bytes(serialization.Encoding.PEM), (kubeadm_pki / "ca.crt").read_bytes(),
        (kubeadm_pki / "ca.key").read_bytes(), not_before=until - timedelta(days=3), not_after=until))
    assert again.not_valid_after_utc == until
    assert again.subject == original.subject and again.issuer == original.issuer
    assert again.public_key().public_numbers() == original.public_key().public_numbers()
    for kind in (x509.SubjectAlternativeName, x509.ExtendedKeyUsage, x509.KeyUsage):
        assert again.extensions.get_extension_for_class(kind) == original.extensions.get_extension_for_class(kind)


# -- descriptors --------------------------------------------------------------------------------

@pytest.mark.parametrize("shell", [["busybox", "sh"], ["bash"]], ids=["busybox", "bash"])
def test_a_child_at_its_nofile_limit_gets_emfile_while_its_parent_works(shell):
    done = subprocess.run([*shell, "-c", descriptors.script(64)], capture_output=True, text=True, timeout=30)
    result = descriptors.parse(done.stdout + done.stderr)
    assert result.limit == 64 and result.opened == 64, result
    assert result.emfile and descriptors.EMFILE_TEXT in result.error, result
    assert result.parent_ok and done.returncode == 0, result
    with socket.socket() as sock, open(os.devnull) as handle:  # and this process is untouched
        assert sock.fileno() > 0 and handle.fileno() > 0


# -- a crash, then cleanup ----------------------------------------------------------------------

CRASHING_RUN = """
import sys, time
from kubeproof.faults import cgroups, disk
from kubeproof.faults.journal import Journal
from kubeproof.faults.node import NodeShell

root, directory = sys.argv[1:3]
journal = Journal(NodeShell("local://"), "crash", root=root)
filled = disk.fill(journal, directory, 32 * 2 ** 20)
churned = cgroups.churn(journal, 1000, 300)   # the charge keeps 300 removed cgroups dying
print(filled.path, churned.charge_dir, flush=True)
time.sleep(600)                               # killed here, before any restore
"""


@needs_memory_v1
def test_sweep_undoes_what_a_killed_run_left(host, ext4, journal_root):
    baseline = cgroups.count(host)
    child = subprocess.Popen([sys.executable, "-c", CRASHING_RUN, journal_root, str(ext4)],
                             stdout=subprocess.PIPE, text=True)
    try:
        fill_path, charge_dir = child.stdout.readline().split()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    assert Path(fill_path).exists() and any(Path(charge_dir).iterdir())
    _held_until_released(host, baseline, 300, lambda: sweep(host, journal_root))
    assert not Path(fill_path).exists() and not Path(charge_dir).exists()
    assert not Path(journal_root).exists()
    assert _kubeproof_cgroups() == []
