"""The real utilisation traces bundled with kubecap, for the simulated cluster.

The package carries compact derived copies (5-minute steps, whole days, normalised to 0..1)
of a few public traces, made by ``scripts/derive_traces.py`` from ``shared/traces``; their
provenance and licences are in ``data/ATTRIBUTION.md``. Loading goes through
importlib.resources so that it works from an installed wheel as well as from a checkout.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Trace:
    """One bundled series: ``values`` in 0..1 every ``step`` seconds, whole days long.

    ``start_second_of_day`` is the time of day of the first value in the trace's own clock;
    a replay maps that clock onto the cluster's local time (see sim_generate).
    """

    name: str
    description: str
    values: npt.NDArray[np.float64]
    step: int
    start_second_of_day: int
    mean_daily_peak: str

    @property
    def seconds(self) -> int:
        return len(self.values) * self.step


@cache
def _bundle() -> dict[str, Trace]:
    raw = resources.files("kubecap.metrics").joinpath("data/traces.npz").read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
        metas = json.loads(str(archive["meta"]))
        traces = {}
        for meta in metas:
            values = archive[meta["name"]].astype(np.float64) / 65535.0
            values.setflags(write=False)
            traces[meta["name"]] = Trace(
                name=meta["name"],
                description=meta["description"],
                values=values,
                step=int(meta["step"]),
                start_second_of_day=int(meta["start_second_of_day"]),
                mean_daily_peak=meta["mean_daily_peak"],
            )
    return traces


def trace_names() -> tuple[str, ...]:
    """Names of the bundled traces, in a stable order."""
    return tuple(sorted(_bundle()))


def load_trace(name: str) -> Trace:
    """A bundled trace by name (KeyError when there is none of that name)."""
    return _bundle()[name]
