"""Errors kubeproof reports to a person: each renders as one line, never a traceback."""

import argparse


class KubeproofError(Exception):
    """A mistake or condition the user can act on (bad context, unreachable API server...)."""


class Unavailable(KubeproofError):
    """The target cannot provide something a test needs (a kind missing from a dump, no cluster); the test skips with this reason."""


class InsufficientPermission(Unavailable):
    """The credentials may not perform a verb; tests that need it skip with this reason."""

    def __init__(self, verb: str, resource: str):
        self.verb, self.resource = verb, resource
        super().__init__(f"insufficient permission: {verb} {resource}")


class NodeUnreachable(KubeproofError):
    """Facts could not be gathered from one node; its tests error, other nodes go on."""

    def __init__(self, node: str, reason: str):
        self.node, self.reason = node, reason
        super().__init__(f"node {node} unreachable: {reason}")


class FaultError(KubeproofError):
    """A fault could not be injected, observed or undone; says what and where, in one line."""


class WaitTimeout(FaultError):
    """A wait (kubeproof.waiting.wait_for) did not see what it waited for within its deadline."""


class UsageParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are a KubeproofError: one line and exit status 4, as
    pytest's usage errors, instead of argparse's usage text and status 2."""

    def error(self, message: str):
        raise KubeproofError(f"{self.prog}: {message}")
