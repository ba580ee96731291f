"""The real traces beside the repository, for the forecast tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import TRACES


@pytest.fixture
def traces() -> Path:
    """The real traces folder (CI has ../shared/traces beside the repository)."""
    assert TRACES.is_dir(), f"real traces expected at {TRACES} (../shared/traces beside the repository)"
    return TRACES
