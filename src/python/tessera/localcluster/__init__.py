"""A real single-node Kubernetes on this machine, with the chart installed: see up.py."""
