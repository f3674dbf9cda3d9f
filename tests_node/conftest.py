"""Node hardening assertions: read-only, one test per (failure id, node), judged from node facts.

Each test hands a judge's Judgement (kubeproof/judge/node) to `verdict.conclude`, which attaches the
facts judged and gather.sh's exact output for the sections they came from, then skips with the
reason when nothing could be judged on the node, or fails naming every problem.
"""
