"""Kubernetes clusters behind one port (``port.py``) with the lightkube adapter (``kube.py``).

Only this package imports lightkube. Nothing is imported here, so that importing the port
never loads an adapter.
"""
