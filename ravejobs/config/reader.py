"""Reads typed values from a composed config, one problem line per bad setting.

Hydra's own type checks stop at the first bad value with a multi-line message and refuse a
float for a step count (`phase.warmup=5e6`, the notebook's way of writing it); this reader
collects every problem of every sweep point, each one line naming the setting and the fix.
A key the config lacks takes its default from the schema (`schema.defaults_node`), never from a
literal written here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ravejobs.config.schema import defaults_node

_MISSING = object()


def _lookup(node: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


class Reader:
    """Typed getters over a plain mapping; problems go to `problems`."""

    def __init__(self, data: Mapping[str, Any], problems: list[str]):
        self.data = data
        self.problems = problems
        self.defaults = defaults_node()

    def get(self, key: str) -> Any:
        """The value, else the schema's default, else None with a "missing" problem."""
        value = _lookup(self.data, key)
        if value is _MISSING:
            value = _lookup(self.defaults, key)
        if value is _MISSING:
            self.problems.append(f"{key}: missing; add it to its config group")
            return None
        return value

    def steps(self, key: str, minimum: int = 0) -> int:
        """A step count: an int, or a float that is a whole number (`5e6`)."""
        value = self.get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.problems.append(f"{key}={value!r}: not a number of steps; write e.g. {key}=1e6")
            return 0
        try:
            number = float(value)
        except ValueError:
            self.problems.append(f"{key}={value!r}: not a number of steps; write e.g. {key}=1e6")
            return 0
        if not math.isfinite(number) or number != int(number):
            self.problems.append(
                f"{key}={value}: steps must be a whole number; use {math.floor(number)} or "
                f"{math.ceil(number)}" if math.isfinite(number) else f"{key}={value}: not finite"
            )
            return 0
        if number < minimum:
            self.problems.append(f"{key}={int(number)}: must be at least {minimum}")
            return 0
        return int(number)

    def integer(self, key: str, minimum: int | None = None) -> int:
        value = self.get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            self.problems.append(f"{key}={value!r}: must be a whole number")
            return 0
        if minimum is not None and value < minimum:
            self.problems.append(f"{key}={int(value)}: must be at least {minimum}")
        return int(value)

    def optional_integer(self, key: str) -> int | None:
        """A whole number, or None (null) for "not set"."""
        return None if self.get(key) is None else self.integer(key)

    def number(self, key: str, positive: bool = False) -> float:
        value = self.get(key)
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{key}={value!r}: must be a number")
            return 0.0
        if positive and not value > 0:
            self.problems.append(f"{key}={value}: must be greater than 0")
        return float(value)

    def ints(self, key: str) -> tuple[int, ...]:
        value = self.get(key)
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            self.problems.append(f"{key}={value!r}: must be a list of positive whole numbers")
            return (1,)
        return tuple(value)

    def nested_ints(self, key: str, example: str) -> tuple[tuple[int, ...], ...]:
        """A list of non-empty lists of positive whole numbers (v2's dilations)."""
        value = self.get(key)
        if not isinstance(value, list | tuple) or not all(
                isinstance(x, list | tuple) and x and all(
                    isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in x)
                for x in value):
            self.problems.append(f"{key}={value!r}: must be one list of positive whole "
                                 f"numbers per ratio, e.g. {example}")
            value = _lookup(self.defaults, key)  # so later rules do not count a bad value
        return tuple(tuple(x) for x in value)

    def words(self, key: str) -> tuple[str, ...]:
        """A list of words (an empty list or null for none)."""
        return tuple(str(v) for v in (self.get(key) or []))

    def mapping(self, key: str) -> dict[str, Any]:
        return dict(self.get(key) or {})

    def boolean(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            self.problems.append(f"{key}={value!r}: must be true or false")
            return False
        return value

    def choice(self, key: str, options: Iterable[str]) -> str:
        value = self.get(key)
        options = tuple(options)
        if value not in options:
            self.problems.append(f"{key}={value!r}: must be one of {', '.join(options)}")
            return options[0]
        return value

    def text(self, key: str) -> str | None:
        value = self.get(key)
        return None if value is None else str(value)
