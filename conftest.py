"""Loads the kubeproof plugin for runs from a checkout (a `pip install` registers it as well)."""

pytest_plugins = ["kubeproof.plugin"]
