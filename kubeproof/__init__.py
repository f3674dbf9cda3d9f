"""kubeproof: documented Kubernetes production failures turned into a pytest suite."""

__version__ = "0.1.0"
