"""Number formatting shared by the report's tables."""

from __future__ import annotations

from typing import Any


def fmt(v: Any, pct: bool = False, nd: int = 3) -> str:
    """``n/a`` for a missing value; a float as a percentage (one decimal) or with ``nd``
    decimals; anything else as ``str``."""
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{100 * v:.1f}" if pct else f"{v:.{nd}f}"
    return str(v)


def mb(n: float) -> str:
    """Bytes as megabytes, two decimals."""
    return f"{n / 1e6:.2f} MB"
