"""Kubernetes label selectors, matched against labels as kube-state-metrics exports them.

kube-state-metrics turns a workload label ``app.kubernetes.io/name: web`` into the series
label ``label_app_kubernetes_io_name="web"``: every character other than a letter, digit or
underscore becomes ``_``. The original key cannot be recovered, so a selector's keys are
sanitised the same way before they are compared (two keys that differ only in punctuation
cannot be told apart; kube-state-metrics has the same limit).

Supported: ``key=value``, ``key==value``, ``key!=value``, ``key``, ``!key``,
``key in (a,b)``, ``key notin (a,b)``, comma-separated (all must hold), as in kubectl.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

_NOT_WORD = re.compile(r"[^a-zA-Z0-9_]")
_KEY = r"[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*$")
_EQUALITY = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


class SelectorError(ValueError):
    """A label selector does not parse; the message says how to write one."""


def sanitise(key: str) -> str:
    """A label key as kube-state-metrics writes it, without the ``label_`` prefix."""
    return _NOT_WORD.sub("_", key)


class Op(StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    NOT_EXISTS = "!exists"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    """Sanitised."""
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op is Op.EXISTS:
            return value is not None
        if self.op is Op.NOT_EXISTS:
            return value is None
        if self.op in (Op.EQUALS, Op.IN):
            return value is not None and value in self.values
        return value is None or value not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """All requirements must hold; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        return cls(tuple(_requirement(part, text) for part in _split(text) if part.strip()))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``labels`` keyed like kube-state-metrics (sanitised, without ``label_``)."""
        return all(r.matches(labels) for r in self.requirements)


def _split(text: str) -> list[str]:
    """Split on the commas that are not inside a set's parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _requirement(part: str, whole: str) -> Requirement:
    if match := _SET.match(part):
        values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
        if not values:
            raise SelectorError(
                f"label selector {whole!r}: {part.strip()!r} needs at least one value in its ( )"
            )
        return Requirement(sanitise(match["key"]), Op.IN if match["op"] == "in" else Op.NOT_IN, values)
    if match := _EQUALITY.match(part):
        op = Op.NOT_EQUALS if match["op"] == "!=" else Op.EQUALS
        return Requirement(sanitise(match["key"]), op, frozenset({match["value"]}))
    if match := _EXISTS.match(part):
        return Requirement(sanitise(match["key"]), Op.NOT_EXISTS if match["neg"] else Op.EXISTS)
    raise SelectorError(
        f"label selector {whole!r}: cannot read {part.strip()!r}; write it as kubectl does,"
        " e.g. 'app=web,tier!=db', 'env in (prod,staging)' or '!canary'"
    )
