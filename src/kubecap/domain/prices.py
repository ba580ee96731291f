"""OpenCost's default prices, in one place for the recommender's savings and the cost report."""

from __future__ import annotations

DEFAULT_CPU_PRICE = 0.031611
"""US dollars per core-hour (OpenCost's default)."""
DEFAULT_MEMORY_PRICE = 0.004237
"""US dollars per GiB-hour (OpenCost's default)."""
