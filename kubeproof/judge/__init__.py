"""Judging logic of the hardening assertions: small pure functions of recorded facts and objects.

Split by what they read: node/ judges node facts, cluster/ judges API objects. Every judge returns a
Judgement (judgement.py) that Verdict.conclude turns into a pass, skip or failure; each judge module
names the failure ids it decides in FAILURE_IDS. The judges never touch the network, so they are
tested on recorded facts and objects (selftest/data/checks: passing and failing data per failure id).
"""
