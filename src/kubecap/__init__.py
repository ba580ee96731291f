"""kubecap: Kubernetes capacity control from real usage."""

__version__ = "0.1.0"
