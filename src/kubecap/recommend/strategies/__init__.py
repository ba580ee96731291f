"""Recommendation strategies, one module each, found by name in a registry (registry.py)."""
