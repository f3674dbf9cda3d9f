"""Judges of cluster objects (kubeproof/kube: the API's objects, listed once per cluster)."""
