"""Cluster hardening assertions: read-only, evaluated once per cluster from the shared cluster view."""
