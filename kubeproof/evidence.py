"""Evidence: what a verdict was based on, kept with the test for the reports and Allure."""

from __future__ import annotations

import json
from typing import Any

import allure
import allure_commons
import pytest

from .kube.redaction import redact

EVIDENCE = pytest.StashKey[dict[str, Any]]()


def node_param(item: pytest.Item) -> str | None:
    """The node a node test runs for (its `node` parameter), None for any other test."""
    callspec = getattr(item, "callspec", None)
    node = callspec.params.get("node") if callspec else None
    # With no node to audit, pytest collects one placeholder item whose parameter is NOTSET.
    return node if isinstance(node, str) else None


class Evidence:
    def __init__(self, item: pytest.Item):
        self.item = item
        item.stash.setdefault(EVIDENCE, {})

    def attach(self, name: str, data: Any) -> None:
        """Keep data (JSON-able, or text such as exact command output) under name.

        Redacted here, where evidence enters, so no report or Allure attachment sees key material.
        """
        data = redact(data)
        self.item.stash[EVIDENCE][name] = data
        if not allure_commons.plugin_manager.hook.attach_data.get_hookimpls():
            return  # no Allure results written (no --alluredir): rendering it for nobody cost a fleet run seconds
        if isinstance(data, str):
            allure.attach(data, name=name, attachment_type=allure.attachment_type.TEXT)
        else:
            allure.attach(json.dumps(data, indent=2, default=str), name=name,
                          attachment_type=allure.attachment_type.JSON)

    @property
    def items(self) -> dict[str, Any]:
        return dict(self.item.stash[EVIDENCE])
