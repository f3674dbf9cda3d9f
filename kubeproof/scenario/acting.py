"""What a scenario acts on: nodes picked by role, a shell and a journal on a node it faults, the
cluster and namespaces of its own, and the locks that keep two scenarios off one node; each change
registers its undo."""

from __future__ import annotations

from ..audit import Audit
from ..errors import FaultError, Unavailable
from ..faults.cluster import Cluster
from ..faults.journal import Journal
from ..faults.node import NodeShell
from ..kube import client as kube_client
from ..kube.nodes import unschedulable
from ..kube.view import ClusterView
from ..nodes import gather
from ..nodes.facts import NodeFacts
from ..inventory import NodeRef, roles_of
from ..nodes.probe import CLEANUP
from .leftovers import NodeState, node_state
from .locks import API_LOCK, LOCK_TIMEOUT, NODE_LOCK_PREFIX, Locks, node_lock
from .undo import Undo

CONTROL_PLANE_ROLE = "control-plane"
TOOLS_IMAGE_ENV = "KUBEPROOF_TOOLS_IMAGE"


class Acting(Undo):
    def __init__(self, failure_ids: list[str], audit: Audit, *, image: str, tools_image: str = "",
                 lock_timeout: float = LOCK_TIMEOUT):
        super().__init__()
        self.id = failure_ids[0]  # names its namespace and journals
        self.failure_ids = tuple(failure_ids)
        self.title = ", ".join(failure_ids)
        self.audit, self.image, self._tools_image = audit, image, tools_image
        self.lock_timeout = lock_timeout
        self._states: dict[str, tuple[NodeShell, NodeState]] = {}  # nodes faulted: as they were
        self._locks = Locks(audit.workdir / "scenario-locks")
        self._cluster: Cluster | None = None
        self._acted: set[str] = set()  # the nodes it faulted or ran pods on (its node locks)

    @property
    def tools_image(self) -> str:
        """An image with python3 on the nodes (KUBEPROOF_TOOLS_IMAGE), else Unavailable (a skip)."""
        if not self._tools_image:
            raise Unavailable(f"{TOOLS_IMAGE_ENV} is not set: the scenario needs an image with python3 that the "
                              "nodes hold or can pull (the lab's: localhost/kubeproof-lab/tools:bookworm)")
        return self._tools_image

    def hold(self, *, exclusive: set[str] = frozenset(), shared: set[str] = frozenset()) -> None:
        """Take locks until the scenario is restored (the API lock is always held, shared at least)."""
        shared = set(shared) | ({API_LOCK} - set(exclusive))
        self._acted |= {name.removeprefix(NODE_LOCK_PREFIX) for name in set(exclusive) | shared
                        if name.startswith(NODE_LOCK_PREFIX)}
        self.say(f"waiting for locks: {', '.join(sorted(exclusive)) or '-'} exclusive, "
                 f"{', '.join(sorted(shared))} shared")
        release = self._locks.acquire(exclusive=set(exclusive), shared=shared, timeout=self.lock_timeout)
        self.defer("release locks", release)

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            target = self.audit.target
            self._cluster = Cluster(kube_client.api_client(target.kubeconfig, target.context))
        return self._cluster

    def namespace(self) -> str:
        """A labelled namespace of this scenario, deleted (and waited for) at restore."""
        name = self.cluster.create_namespace(self.id)
        self.defer(f"delete namespace {name}", lambda: self._delete_namespace(name))
        return name

    def _delete_namespace(self, name: str) -> None:
        if self._interrupted:
            self.say(f"namespace {name} is being deleted; {CLEANUP}")
        self.cluster.delete_namespace(name, wait=not self._interrupted)

    def pods_on_worker(self) -> tuple[str, str]:
        """The prologue of a scenario whose pods run on a worker: the first node pods can be scheduled
        on, held shared (no fault runs there meanwhile), and a namespace for them; (node, namespace)."""
        name = self.worker()
        self.hold(shared={node_lock(name)})
        return name, self.namespace()

    def ref(self, name: str) -> NodeRef:
        ref = next((n for n in self.audit.nodes if n.name == name), None)
        if ref is None:
            raise Unavailable(f"node {name} is not in the inventory (--nodes, --node-access none?): "
                              "the scenario needs to act on it")
        return ref

    def workers(self) -> list[str]:
        """Nodes pods can be scheduled on: Ready, no NoSchedule/NoExecute taint; workers first."""
        every = self.audit.view.list("nodes")
        nodes = [n for n in every if not unschedulable(n)]
        if not nodes:
            raise Unavailable("no schedulable Ready node at the run's start: " + "; ".join(
                f"{n['metadata']['name']} {', '.join(unschedulable(n))}" for n in every))
        return [n["metadata"]["name"] for n in sorted(nodes, key=lambda n: CONTROL_PLANE_ROLE in roles_of(n))]

    def worker(self) -> str:
        """The first node pods can be scheduled on, a worker if any."""
        return self.workers()[0]

    def control_plane(self) -> str:
        """A control-plane node (by its node-role label)."""
        found = [n["metadata"]["name"] for n in self.audit.view.list("nodes") if CONTROL_PLANE_ROLE in roles_of(n)]
        if not found:
            raise Unavailable("no node carries the node-role.kubernetes.io/control-plane label")
        return found[0]

    def node(self, name: str) -> NodeShell:
        """A shell on the node for faults; Unavailable when its access cannot write (pod, dump)."""
        ref = self.ref(name)
        try:
            return NodeShell(ref.access, ref.name, ssh_config=self.audit.options.ssh_config,
                             sudo=self.audit.options.sudo)
        except FaultError as exc:
            raise Unavailable(str(exc)) from None

    def journal(self, node: NodeShell) -> Journal:
        """A journal for changes on node, undone at restore (and by cleanup if the run dies)."""
        journal = Journal(node, self.id)
        self.defer(f"undo the changes on node {node.name} ({journal.path})", journal.undo)
        return journal

    def fault_on(self, name: str, *, api: bool = False) -> tuple[NodeShell, Journal]:
        """The prologue of a fault on node name: hold it exclusively (and the API too when api, for a
        control-plane disruption), then a shell on it and a journal of the changes; (shell, journal).
        Unavailable (a skip) before anything is changed when the node's access cannot write."""
        self.hold(exclusive={node_lock(name)} | ({API_LOCK} if api else set()))
        node = self.node(name)
        if name not in self._states:
            self._states[name] = (node, node_state(node))
        return node, self.journal(node)

    def view(self) -> ClusterView:
        """A cluster view listed now (the audit's view is the run's start, shared and cached)."""
        target = self.audit.target
        return ClusterView.live(self.cluster.api, context=target.context)

    def facts(self, node: NodeShell) -> NodeFacts:
        """The node's facts gathered now, in one round trip."""
        ref = self.ref(node.name)
        return NodeFacts(gather.gather(node.host, node.name, root=ref.root,
                                       timeout=self.audit.node_timeout, profile=self.audit.profile))
