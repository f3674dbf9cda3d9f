"""Reaching nodes and gathering their facts."""
