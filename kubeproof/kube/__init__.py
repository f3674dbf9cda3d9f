"""Everything that talks to, or stands in for, the Kubernetes API."""
