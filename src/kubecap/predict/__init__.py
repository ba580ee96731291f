"""Predictive replicas: forecast an opted-in workload's load and set replicas ahead of the peak.

``policy`` (what a workload asked for) and ``plan`` (one round's decision) are pure; the
``controller`` runs one round over the ports in ``ports``; ``service`` opts workloads in
and out. See docs/predict.md.
"""

from kubecap.predict.controller import PredictController, Round, RoundSettings
from kubecap.predict.plan import Basis, Decision, Situation, decide
from kubecap.predict.policy import CronWindow, Mode, Policy, PolicyError, Signal, parse_cron_window
from kubecap.predict.service import PolicyService, PolicyView

__all__ = [
    "Basis",
    "CronWindow",
    "Decision",
    "Mode",
    "Policy",
    "PolicyError",
    "PolicyService",
    "PolicyView",
    "PredictController",
    "Round",
    "RoundSettings",
    "Signal",
    "Situation",
    "decide",
    "parse_cron_window",
]
