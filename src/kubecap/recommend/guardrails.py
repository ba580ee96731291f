"""Guardrails: the engine's post-processing of every strategy's values, as an ordered, declared list.

Like the VPA's recommendation post-processors, each guardrail is a small pure function of
the proposal (four estimates per container) and its context, applied in the order of
``GUARDRAILS``; tests and callers may pass another list. The order matters: HPA-held
requests are restored first, a request is then kept within its limit, and rounding to whole
units comes last so that the values shown are the values applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from kubecap.recommend.history import Mask, Vector
from kubecap.recommend.settings import EngineSettings
from kubecap.recommend.steps import MIB, MILLICORE, Estimate, round_up, unit_format


@dataclass(frozen=True)
class Proposal:
    """Per container: CPU and memory requests and limits (NaN: not set)."""

    cpu_request: Estimate
    cpu_limit: Estimate
    mem_request: Estimate
    mem_limit: Estimate

    def estimates(self) -> dict[str, Estimate]:
        return {
            "cpu_request": self.cpu_request,
            "cpu_limit": self.cpu_limit,
            "mem_request": self.mem_request,
            "mem_limit": self.mem_limit,
        }


@dataclass(frozen=True)
class Current:
    """What the containers run with today (NaN: not set)."""

    cpu_request: Vector
    cpu_limit: Vector
    mem_request: Vector
    mem_limit: Vector


@dataclass(frozen=True)
class Context:
    current: Current
    hpa_cpu: Mask
    """The container's workload has an HPA that scales on CPU utilisation."""
    hpa_memory: Mask
    settings: EngineSettings


Guardrail = Callable[[Proposal, Context], Proposal]


def hold_hpa_resources(proposal: Proposal, context: Context) -> Proposal:
    """Keep the request (and limit) of a resource the workload's HPA scales on, unless allowed."""
    if context.settings.allow_hpa:
        return proposal
    cur = context.current
    why = "kept: the workload's HPA scales on {0} utilisation, measured against this request (--allow-hpa changes it)"

    def hold(estimate: Estimate, current: Vector, held: Mask, resource: str) -> Estimate:
        return estimate.then(np.where(held, current, estimate.values), lambda i: why.format(resource), held)

    return Proposal(
        cpu_request=hold(proposal.cpu_request, cur.cpu_request, context.hpa_cpu, "CPU"),
        cpu_limit=hold(proposal.cpu_limit, cur.cpu_limit, context.hpa_cpu, "CPU"),
        mem_request=hold(proposal.mem_request, cur.mem_request, context.hpa_memory, "memory"),
        mem_limit=hold(proposal.mem_limit, cur.mem_limit, context.hpa_memory, "memory"),
    )


def request_within_limit(proposal: Proposal, context: Context) -> Proposal:
    """A request above its limit is lowered to it: usage can never exceed the limit anyway."""

    def cap(request: Estimate, limit: Estimate, resource: str) -> Estimate:
        over = request.values > limit.values  # False where either is NaN
        fmt = unit_format(resource)
        return request.then(
            np.where(over, limit.values, request.values),
            lambda i: f"lowered to the {fmt(float(limit.values[i]))} limit, which usage cannot exceed",
            over,
        )

    return replace(
        proposal,
        cpu_request=cap(proposal.cpu_request, proposal.cpu_limit, "cpu"),
        mem_request=cap(proposal.mem_request, proposal.mem_limit, "memory"),
    )


def whole_units(proposal: Proposal, context: Context) -> Proposal:
    """Round up: CPU to whole millicores, memory to whole MiB."""
    return Proposal(
        cpu_request=round_up(proposal.cpu_request, MILLICORE),
        cpu_limit=round_up(proposal.cpu_limit, MILLICORE),
        mem_request=round_up(proposal.mem_request, MIB),
        mem_limit=round_up(proposal.mem_limit, MIB),
    )


GUARDRAILS: tuple[Guardrail, ...] = (hold_hpa_resources, request_within_limit, whole_units)
"""The guardrails every recommendation passes, in order."""


def apply(proposal: Proposal, context: Context, guardrails: Sequence[Guardrail] = GUARDRAILS) -> Proposal:
    for guardrail in guardrails:
        proposal = guardrail(proposal, context)
    return proposal
