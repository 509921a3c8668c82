"""The one reading of cvgl-bench's flag and number environment variables.

Unset or blank means the default. Any other value must be what the variable holds, or it is
refused in one line naming the variable, what it takes and the value given: a typo such as
``CVGL_BENCH_DEBUG=ture`` or ``CVGL_BENCH_THREADS=2.5`` is never read as something else without a
word. Folder variables (``CVGL_BENCH_CACHE`` and the others) are read by :mod:`cvgl_bench.dataroot`.
"""

from __future__ import annotations

import math
import os

from .errors import ConfigError

FLAG_ON = ("1", "true", "yes", "on")
FLAG_OFF = ("0", "false", "no", "off")


def flag(name: str) -> bool:
    """``name`` as a switch: 1/true/yes/on or 0/false/no/off, in any case; unset or blank: off."""
    raw = os.environ.get(name, "")
    text = raw.strip().lower()
    if text in FLAG_ON:
        return True
    if not text or text in FLAG_OFF:
        return False
    raise ConfigError(f"{name} must be 1 or 0 (or true/false, yes/no, on/off), not {raw!r}")


def integer(name: str, default: int | None, low: int | None = None, high: int | None = None) -> int | None:
    """``name`` as a whole number written in decimal digits (a sign allowed), from ``low`` to
    ``high`` where given; ``default`` when unset or blank."""
    raw = os.environ.get(name, "")
    text = raw.strip()
    if not text:
        return default
    digits = text[1:] if text[:1] in "+-" else text
    value = int(text) if digits.isascii() and digits.isdigit() and len(digits) <= 30 else None
    if value is not None and (low is None or value >= low) and (high is None or value <= high):
        return value
    bounds = f" from {low} to {high}" if low is not None and high is not None else (
        f" of at least {low}" if low is not None else "")
    raise ConfigError(f"{name} must be an integer{bounds}, not {raw!r}")


def number(name: str, default: float, low: float, high: float, what: str = "a number") -> float:
    """``name`` as a decimal number from ``low`` to ``high`` (``inf`` only where ``high`` is);
    ``default`` when unset or blank. ``what`` names it in the error (``a number of seconds``)."""
    raw = os.environ.get(name, "")
    text = raw.strip()
    if not text:
        return default
    try:
        value = float(text) if "_" not in text else math.nan
    except ValueError:
        value = math.nan
    if low <= value <= high:  # NaN is not
        return value
    bounds = f">= {low:g}" if high == math.inf else f"from {low:g} to {high:g}"
    raise ConfigError(f"{name} must be {what} {bounds}, not {raw!r}")
