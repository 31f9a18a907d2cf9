"""The query string of the web view's routes: each route declares its parameters as a table
of ``Param`` (the parser and the OpenAPI description both read it), and ``parse_query``
refuses what the table does not allow, with an InputError naming the parameter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.errors import InputError

if TYPE_CHECKING:
    from starlette.requests import Request

MAX_VALUE_CHARS = 200
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Param:
    """One query parameter of a route: its name, what it means, how it is typed."""

    name: str
    description: str
    repeat: bool = False
    kind: str = "string"  # or boolean
    fmt: str | None = None  # OpenAPI format: date, date-time, decimal
    choices: tuple[str, ...] = ()

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.kind}
        if self.fmt:
            schema["format"] = self.fmt
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.repeat:
            schema = {"type": "array", "items": schema}
        return {"name": self.name, "in": "query", "required": False,
                "description": self.description, "schema": schema}  # fmt: skip


@dataclass(frozen=True)
class Query:
    """A request's parameters, checked against its route's table."""

    values: tuple[tuple[str, str], ...]

    def one(self, name: str) -> str | None:
        return next((v for k, v in self.values if k == name), None)

    def many(self, name: str) -> list[str]:
        return [v for k, v in self.values if k == name]

    def flag(self, name: str) -> bool:
        value = self.one(name)
        return value is not None and value.lower() in _TRUE


def parse_query(request: Request, params: Sequence[Param]) -> Query:
    """The query string, each name known to the route, given once unless repeatable, within
    its choices; an InputError naming the parameter otherwise."""
    allowed = {p.name: p for p in params}
    seen: list[tuple[str, str]] = []
    for name, value in request.query_params.multi_items():
        param = allowed.get(name)
        if param is None:
            takes = ", ".join(allowed) if allowed else "none"
            raise InputError(f"unknown parameter {name[:40]!r} (this route takes: {takes})")
        if len(value) > MAX_VALUE_CHARS:
            raise InputError(f"{name}: the value is longer than {MAX_VALUE_CHARS} characters")
        if not param.repeat and any(k == name for k, _ in seen):
            raise InputError(f"{name} is given more than once (only holder may repeat)")
        if param.choices and value not in param.choices:
            raise InputError(f"{name} {value!r}: use one of {', '.join(param.choices)}")
        if param.kind == "boolean" and value.lower() not in (*_TRUE, *_FALSE):
            raise InputError(f"{name} {value!r}: use true or false")
        seen.append((name, value))
    return Query(tuple(seen))


def parse_pair(text: str) -> tuple[str, str]:
    """``A,B`` as two slugs (whether they are known is checked against the store)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise InputError(
            f"compare {text!r}: give two holder slugs as A,B, e.g. united-states,el-salvador"
        )
    return parts[0], parts[1]
