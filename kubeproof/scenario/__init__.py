"""A scenario's lifecycle: phases a person can follow, locks, and a restore that always runs.

A scenario injects a fault, observes the symptom the field report describes, judges with the
hardening assertion of its failure id, and restores the node or cluster. A scenario file declares
this to `Scenario.prove` (runner.py, the eight steps) and takes all else it needs from here:

- following.py: phases logged on the `kubeproof.scenario` logger as they start and end;
- acting.py: the nodes and cluster a scenario acts on, namespaces of its own, its prologues;
- locks.py: reader-writer locks between the xdist workers, per node and for the API;
- undo.py: the restore stack, run newest first whatever happened, Ctrl-C held back meanwhile;
- symptoms.py (step 3), happened.py (step 7), leftovers.py (step 8): each step's own rule;
- pods.py: pod, DaemonSet and Deployment builders.
"""

from .acting import TOOLS_IMAGE_ENV
from .following import log
from .happened import misplaced
from .locks import node_lock
from .pods import container, daemonset, deployment, pause_image, pod
from .runner import Scenario
from .symptoms import catalog_symptom, symptom_pattern

__all__ = ["TOOLS_IMAGE_ENV", "Scenario", "catalog_symptom", "container", "daemonset", "deployment", "log",
           "misplaced", "node_lock", "pause_image", "pod", "symptom_pattern"]
