"""The fault primitives run for real: memory cgroups left behind on this host and in a node container,
a fill file on a loop-mounted ext4, a re-issued certificate, and the journal's sweep after a crash. No
cluster is needed; each test leaves nothing behind (no cgroup, mount, loop device, container or
process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from filelock import FileLock

from selftest.support.kubeadm_pki import key_pem, mint, pem  # not `import kubeadm_pki`: a fixture below has that name
from kubeproof.errors import FaultError
from kubeproof.faults import cgroups, disk, pki
from kubeproof.faults.journal import Journal, sweep
from kubeproof.faults.node import NodeShell
from kubeproof.waiting import wait_for

MiB = 2 ** 20
JOURNALS = os.path.join(tempfile.gettempdir(), "kubeproof-selftest-journals")
TOLERANCE = 16  # cgroups other tests' containers and pods come and go with meanwhile
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


def _leak_and_undo(node: NodeShell, journal: Journal, count: int) -> None:
    """count live memory cgroups left, counted by the kernel, then removed by the journal. Each
    difference spans one step only: the count is host-wide, and over a whole leak a kind cluster
    running beside it (the main flow's) creates pods' cgroups by the dozen (CI saw +22)."""
    baseline = cgroups.count(node)
    leaked = cgroups.leak(journal, count)
    assert leaked.live >= baseline.live + count - TOLERANCE and leaked.num_cgroups >= count, (baseline, leaked)
    journal.undo()
    after = cgroups.count(node)
    assert after.live <= leaked.live - count + TOLERANCE, (leaked, after)


@needs_memory_v1
def test_memory_cgroups_left_on_the_host_are_counted_and_removed(host, journal_root):
    _leak_and_undo(host, Journal(host, "selftest", root=journal_root), 3000)
    assert _kubeproof_cgroups() == []


@needs_memory_v1
def test_memory_cgroups_left_inside_a_node_container(node_container, one_host_fault_at_a_time):
    name = node_container()  # its /sys/fs/cgroup is the host's, bound read-write (docs/lab.md)
    node = NodeShell(f"docker://{name}")
    journal = Journal(node, "selftest")
    try:
        _leak_and_undo(node, journal, 2000)
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


# -- certificates ---------------------------------------------------------------------------

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


# -- a crash, then cleanup ----------------------------------------------------------------------

CRASHING_RUN = """
import sys, time
from kubeproof.faults import cgroups, disk
from kubeproof.faults.journal import Journal
from kubeproof.faults.node import NodeShell

root, directory = sys.argv[1:3]
journal = Journal(NodeShell("local://"), "crash", root=root)
filled = disk.fill(journal, directory, 32 * 2 ** 20)
cgroups.leak(journal, 300)
print(filled.path, flush=True)
time.sleep(600)                               # killed here, before any restore
"""


@needs_memory_v1
def test_sweep_undoes_what_a_killed_run_left(host, ext4, journal_root):
    child = subprocess.Popen([sys.executable, "-c", CRASHING_RUN, journal_root, str(ext4)],
                             stdout=subprocess.PIPE, text=True)
    try:
        fill_path = child.stdout.readline().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    assert Path(fill_path).exists() and len([c for c in MEMORY.glob("kubeproof-*/c*") if c.is_dir()]) == 300
    sweep(host, journal_root)
    assert not Path(fill_path).exists()
    assert not Path(journal_root).exists()
    assert _kubeproof_cgroups() == []
