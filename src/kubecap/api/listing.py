"""Pagination, filtering and sorting of list answers, the same way for every list: pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubecap.errors import ConfigError

MAX_LIMIT = 1000


def page(
    items: Sequence[Mapping[str, Any]],
    *,
    offset: int = 0,
    limit: int = 100,
    sort: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    """``{"items", "total", "offset", "limit"}``: exact-match ``filters``, a substring ``search`` over
    the string fields, then ``sort`` (a field name, ``-`` first for descending), then the page."""
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"offset must be 0 or more and limit between 1 and {MAX_LIMIT}: correct the query")
    chosen = list(items)
    for key, wanted in (filters or {}).items():
        if wanted is not None:
            chosen = [i for i in chosen if str(i.get(key)) == wanted]
    if search:
        needle = search.lower()
        chosen = [i for i in chosen if any(isinstance(v, str) and needle in v.lower() for v in i.values())]
    if sort:
        key = sort.lstrip("-")
        if chosen and key not in chosen[0]:
            known = ", ".join(sorted(chosen[0]))
            raise ConfigError(f"cannot sort by {key!r}: use one of {known}")
        present = [i for i in chosen if i.get(key) is not None]
        missing = [i for i in chosen if i.get(key) is None]
        present.sort(key=lambda i: i[key], reverse=sort.startswith("-"))
        chosen = present + missing  # missing values last, whichever the direction
    return {"items": chosen[offset : offset + limit], "total": len(chosen), "offset": offset, "limit": limit}
