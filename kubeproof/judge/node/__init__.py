"""Judges of node facts (kubeproof/nodes: gather.sh's output parsed into NodeFacts)."""
