"""One round of predictive replicas: a linear, timed script of named steps, per opted-in workload.

    policies → load → forecast → observe → decide → apply → record

Each step is timed (``Round.timings``) and a workload whose round fails is logged with
structured keys, audited as failed and skipped: the others still run, and the next round
tries again. In preview the apply step is skipped and the decision is only recorded (the
workload's state and a ``predict.preview`` audit event when it would change something).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from kubecap.cluster.port import ClusterPort, Hpa, WorkloadNotFound
from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import KubecapError
from kubecap.forecast import DAY, CannotForecast, Forecast, ForecastConfig, forecast
from kubecap.predict.plan import Decision, Situation, decide, temporary_hold
from kubecap.predict.policy import Mode, Policy, PolicyError, epoch
from kubecap.predict.ports import LoadSource, PolicyStore, ReplicasTable

log = logging.getLogger(__name__)

ACTOR = "predict"
HPA_MIN = "hpa_min"
"""State key: the HPA's own minReplicas, kept while kubecap has raised it."""


@dataclass(frozen=True, slots=True)
class RoundSettings:
    history_seconds: int = 14 * DAY
    step_seconds: int = 300
    fresh_seconds: int = 900
    """The load seen now is the last sample no older than this."""


@dataclass(slots=True)
class Outcome:
    ref: WorkloadRef
    decision: Decision | None
    applied: bool = False
    preview: bool = False
    error: str = ""


@dataclass(slots=True)
class Round:
    at: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Seconds spent in each named step, summed over the workloads."""


class PredictController:
    """Sets replicas ahead of forecast peaks for the workloads that opted in."""

    def __init__(
        self,
        store: PolicyStore,
        clusters: Mapping[str, ClusterPort],
        load: LoadSource,
        table: ReplicasTable,
        *,
        settings: RoundSettings = RoundSettings(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._clusters = clusters
        self._load = load
        self._table = table
        self._settings = settings
        self._clock = clock

    async def run_round(self, *, cluster: str | None = None) -> Round:
        now = self._clock()
        report = Round(now)
        started = time.perf_counter()
        records = await self._store.predict_policies(cluster=cluster)
        report.timings["policies"] += time.perf_counter() - started
        for record in records:
            try:
                policy = Policy.from_json(record.ref, record.policy).validate()
                report.outcomes.append(await self._one(policy, dict(record.state), now, report.timings))
            except (KubecapError, PolicyError, KeyError, ValueError) as exc:
                log.warning("predict round failed", extra={"workload": str(record.ref), "error": str(exc)})
                report.outcomes.append(Outcome(record.ref, None, error=str(exc)))
                await self._store.save_predict_state(
                    record.ref,
                    {**record.state, "error": str(exc), "at": now.isoformat()},
                    audit=[
                        self._event(
                            now, "predict.round", record.ref, AuditResult.FAILED, None, None, str(exc)
                        )
                    ],
                )
        return report

    async def _one(
        self, policy: Policy, state: dict[str, Any], now: datetime, timings: dict[str, float]
    ) -> Outcome:
        ref = policy.ref
        cluster = self._clusters.get(ref.cluster)
        if cluster is None:
            raise PolicyError(f"cluster {ref.cluster!r} of {ref} is not configured: add it to the settings")
        step = self._settings.step_seconds

        t = time.perf_counter()
        series = await self._load.load(
            policy, now - timedelta(seconds=self._settings.history_seconds), now, step
        )
        timings["load"] += time.perf_counter() - t

        t = time.perf_counter()
        # A whole day ahead, although only the lead time is used: the backtest then scores whole
        # cycles, so the error (and the fallback it drives) does not swing with the time of day.
        horizon = max(policy.lead_seconds, step, DAY)
        config = ForecastConfig(step=step, history=self._settings.history_seconds)
        predicted: Forecast | CannotForecast
        try:
            predicted = forecast(series, horizon, config)
        except CannotForecast as exc:
            predicted = exc
        timings["forecast"] += time.perf_counter() - t

        t = time.perf_counter()
        hpa = await self._hpa(cluster, policy)
        live, held = 0, ""
        if policy.mode is Mode.HPA_MIN:
            assert hpa is not None
            own = state.get(HPA_MIN)
            situation = Situation(
                hpa.min_replicas,
                series_load(series, now, self._settings),
                hpa_min=hpa.min_replicas if own is None else int(own),
                hpa_max=hpa.max_replicas,
            )
        else:
            if hpa is not None:
                raise PolicyError(
                    f"{ref} is scaled by HPA {hpa.name!r}, which control-table replicas would fight: "
                    f"use `kubecap predict set ... --mode hpa-min`"
                )
            live = (await cluster.get_workload(ref)).replicas or 0
            held = temporary_hold(await cluster.workload_annotations(ref), now)
            # The table's replicas are what kubecap asked for; the live count may lag behind the
            # webhook's snapshot (it is scaled again below until it agrees).
            spec = await self._table.replicas(ref)
            situation = Situation(live if spec is None else spec, series_load(series, now, self._settings))
        timings["observe"] += time.perf_counter() - t

        decision = decide(policy, now, situation, predicted)
        if held:
            decision = replace(
                decision, replicas=decision.current, reason=f"{decision.reason}; {held}: nothing changed"
            )

        t = time.perf_counter()
        applied = False
        if not policy.preview and not held:
            if policy.mode is Mode.HPA_MIN:
                assert hpa is not None
                if decision.changed:
                    await cluster.set_hpa_min_replicas(hpa.namespace, hpa.name, decision.replicas)
                    applied = True
            else:
                if decision.changed:
                    await self._table.set(
                        ref, actor=ACTOR, reason=decision.reason, replicas=decision.replicas
                    )
                    applied = True
                if decision.changed or live != decision.replicas:
                    await cluster.scale(ref, decision.replicas)
        timings["apply"] += time.perf_counter() - t

        t = time.perf_counter()
        new_state: dict[str, Any] = {
            "at": now.isoformat(),
            "last": decision.to_json(),
            "preview": policy.preview,
        }
        if hpa is not None and not policy.preview:
            own = situation.hpa_min
            # Remember the HPA's own minimum while it is raised; forget it once restored.
            if own is not None and decision.replicas > own:
                new_state[HPA_MIN] = own
        audit = []
        if decision.changed:
            action = "predict.preview" if policy.preview else f"predict.{policy.mode.value}"
            audit.append(
                self._event(
                    now,
                    action,
                    ref,
                    AuditResult.OK,
                    {"replicas": decision.current},
                    decision.to_json(),
                    decision.reason,
                )
            )
        await self._store.save_predict_state(ref, new_state, audit=audit)
        timings["record"] += time.perf_counter() - t
        return Outcome(ref, decision, applied=applied, preview=policy.preview)

    async def _hpa(self, cluster: ClusterPort, policy: Policy) -> Hpa | None:
        """The HPA of the workload (``--hpa`` or the one targeting it); required in ``hpa-min``."""
        ref = policy.ref
        hpas = await cluster.list_hpas(ref.namespace)
        found = [
            h
            for h in hpas
            if (
                h.name == policy.hpa
                if policy.hpa
                else h.target_kind == ref.kind.value and h.target_name == ref.name
            )
        ]
        if not found and policy.mode is Mode.CONTROL_TABLE:
            return None
        if not found:
            which = f"HPA {policy.hpa!r}" if policy.hpa else "no HPA targets it"
            raise WorkloadNotFound(
                f"{ref} uses mode hpa-min but {which} in namespace {ref.namespace!r}: "
                "create the HPA or use mode control-table"
            )
        return found[0]

    @staticmethod
    def _event(
        now: datetime,
        action: str,
        ref: WorkloadRef,
        result: AuditResult,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        message: str,
    ) -> AuditEvent:
        return AuditEvent(
            at=now,
            actor=ACTOR,
            action=action,
            cluster=ref.cluster,
            target=str(ref),
            result=result,
            before=before,
            after=after,
            message=message,
        )


def series_load(series: Any, now: datetime, settings: RoundSettings) -> float | None:
    """The last finite sample no older than ``fresh_seconds``, or None."""
    t = np.asarray(series.timestamps)
    v = np.asarray(series.values)
    ok = np.isfinite(v) & (t >= epoch(now) - settings.fresh_seconds) & (t <= epoch(now))
    if not ok.any():
        return None
    return float(v[ok][np.argmax(t[ok])])
