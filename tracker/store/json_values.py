"""Each column's exact JSON form in `db export` and `db import`: prices and decimals as
decimal strings, 64-bit integers (satoshis, populations) as strings, ids and counts as
numbers, dates as ``YYYY-MM-DD``, instants as ISO 8601 in UTC; ``load`` checks a value as it
comes back (a price with more than 8 decimal places, an instant without an offset, a
satoshi count that is not an integer: each a ``ValueError`` naming it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from tracker.columns import DecimalString, ScaledPrice, UTCDateTime
from tracker.money import units_to_price


@dataclass(frozen=True)
class Codec:
    """One column's JSON form: to it from the transfer value, and back with a check."""

    kind: str
    nullable: bool

    def dump(self, value: Any) -> Any:
        if value is None:
            return None
        return _DUMP[self.kind](value)

    def load(self, value: Any) -> Any:
        if value is None:
            if not self.nullable:
                raise ValueError("must not be null")
            return None
        return _LOAD[self.kind](value)


def _dump_price(units: int) -> str:
    return format(units_to_price(int(units)), "f")


def _load_price(text: Any) -> int:
    d = _decimal(text)
    if d.as_tuple().exponent < -8:  # type: ignore[operator]
        raise ValueError(f"{text!r} has more than 8 decimal places")
    return int(d.scaleb(8))


def _decimal(text: Any) -> Decimal:
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a decimal string")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal") from None
    if not d.is_finite():
        raise ValueError(f"{text!r} is not a finite decimal")
    return d


def _load_bigint(text: Any) -> int:
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"{text!r} is not an integer string")
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def _load_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value


def _load_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _load_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def _load_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(_load_str(value))


def _load_instant(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(_load_str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return parsed.astimezone(dt.UTC)


def _dump_instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


_DUMP: dict[str, Callable[[Any], Any]] = {
    "price": _dump_price,
    "decimal": str,
    "bigint": str,
    "int": int,
    "bool": bool,
    "str": str,
    "date": lambda d: d.isoformat(),
    "instant": _dump_instant,
}
_LOAD: dict[str, Callable[[Any], Any]] = {
    "price": _load_price,
    "decimal": lambda t: str(_decimal(t)),
    "bigint": _load_bigint,
    "int": _load_int,
    "bool": _load_bool,
    "str": _load_str,
    "date": _load_date,
    "instant": _load_instant,
}


def column_kind(column_type: Any) -> str:
    """The JSON form a column of this type takes (a new type must be added here)."""
    for cls, kind in (
        (ScaledPrice, "price"),
        (DecimalString, "decimal"),
        (UTCDateTime, "instant"),
        (sa.DateTime, "instant"),
        (sa.Date, "date"),
        (sa.Boolean, "bool"),
        (sa.BigInteger, "bigint"),
        (sa.Integer, "int"),
        (sa.String, "str"),
    ):
        if isinstance(column_type, cls):
            return kind
    raise TypeError(f"no transfer form for column type {column_type!r}")  # a new type: add it
