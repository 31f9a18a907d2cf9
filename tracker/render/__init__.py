"""Output, registered in one place: ``render(result, fmt)`` turns any result a command gets
(a Report, a Status, a Timeline, a fetch round, …) into table, JSON, CSV or Markdown text.

Each module here registers its renderers with ``@renders(Type, "fmt", …)``; renderers never
touch the store or the network. Every non-JSON output has its control characters made
harmless (``text.clean``); JSON escapes them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from tracker.render.text import clean, clean_json, terminal_width

Renderer = Callable[..., str]
F = TypeVar("F", bound=Renderer)

_REGISTRY: dict[tuple[type, str], Renderer] = {}
_MODULES = (
    "report", "report_text", "report_md", "ledger", "rounds", "daily", "addresses", "verify",
)  # fmt: skip


def renders(kind: type, *formats: str) -> Callable[[F], F]:
    """Register a renderer of ``kind`` for ``formats``; it is called as
    ``fn(result, width=…, color=…)`` and returns text."""

    def register(fn: F) -> F:
        for fmt in formats:
            _REGISTRY[(kind, fmt)] = fn
        return fn

    return register


def formats(kind: type) -> list[str]:
    _load()
    return [fmt for k, fmt in _REGISTRY if k is kind]


def render(result: Any, fmt: str, *, width: int | None = None, color: bool = False) -> str:
    """``result`` as ``fmt`` text; ``width`` defaults to the terminal's, ``color`` to off."""
    _load()
    for kind in type(result).__mro__:
        fn = _REGISTRY.get((kind, fmt))
        if fn is not None:
            break
    else:
        raise ValueError(f"no {fmt!r} renderer for {type(result).__name__}")
    text = fn(result, width=width or terminal_width(), color=color)
    if fmt == "json":
        return clean_json(text)
    return text if color else clean(text)  # coloured tables clean each cell themselves


def _load() -> None:
    for name in _MODULES:
        importlib.import_module(f"tracker.render.{name}")
