"""Recommendations: requests, limits and replicas per container, each with why, savings and risk.

Pure logic (history arrays, distributions, strategies, guardrails, replicas, idle nodes,
savings and risk) is separate from the one module that does I/O (service.py), which talks
to the store through a narrow protocol.
"""
