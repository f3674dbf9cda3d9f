"""Disruptive reproductions of the documented failures: kind or explicitly allowed clusters only."""
