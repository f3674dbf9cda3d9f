"""Loads the kubeproof plugin for runs from a checkout (a `pip install` registers it as well),
and pytester for the selftests (only a root conftest may name plugins)."""

pytest_plugins = ["kubeproof.plugin", "pytester"]
