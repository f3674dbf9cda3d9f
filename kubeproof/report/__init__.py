"""Reports of a run: the audit document (audit.json), its Markdown and HTML renderings, and diffs."""
