"""Kubernetes resource quantities ("250m", "1.5", "512Mi", "1e3") as plain numbers.

CPU is kept in cores (float) and memory in bytes (float, whole in practice), because every
computation downstream (percentiles, savings) is arithmetic on them. Parsing follows the
apimachinery grammar: a signed decimal number with an optional decimal-SI, binary-SI or
exponent suffix.
"""

from __future__ import annotations

import math
import re

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$")


class QuantityError(ValueError):
    """A quantity string does not follow the Kubernetes grammar."""


def parse_quantity(text: str | int | float) -> float:
    """Return the numeric value of a Kubernetes quantity ("100m" -> 0.1, "1Gi" -> 1073741824)."""
    if isinstance(text, bool):
        raise QuantityError(f"{text!r} is not a quantity")
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise QuantityError(f"{text!r} is not a finite quantity")
        return float(text)
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (examples: 250m, 1.5, 512Mi, 2Gi)")
    number, suffix, exponent = match.groups()
    value = float(number)
    if exponent is not None:
        return value * 10.0 ** int(exponent)
    suffix = suffix or ""
    return value * (_BINARY.get(suffix) or _DECIMAL[suffix])


def format_cpu(cores: float) -> str:
    """Cores as whole millicores ("340m"), or whole cores when exact ("2")."""
    millis = round(cores * 1000)
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_bytes(value: float) -> str:
    """Bytes as the largest binary unit that keeps a short number ("512Mi", "1.5Gi")."""
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.0f}{unit}" if scaled == round(scaled) else f"{scaled:.1f}{unit}"
    return f"{value:.0f}"
