"""kubeproof in the cluster it audits: its container image (image.py), built from the wheel without a
registry, and the manifests of a nightly CronJob running it (manifests.py, cronjob.yaml)."""
