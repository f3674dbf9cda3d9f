"""Node hardening assertions: read-only, one test per (failure id, node), judged from node facts."""
