"""Judging logic of the hardening assertions: small pure functions of recorded facts and objects.

Tests read the cluster view or node facts, call a judge and hand its findings to the verdict; the
judges never touch the network, so they are unit-tested on recorded objects.
"""
