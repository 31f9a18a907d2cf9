"""What `db copy`, `db import` and `--verify` found, per table: pure value types (the store
makes them, render prints them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TableCopy:
    """What merging rows into one table did."""

    name: str
    source_rows: int = 0
    copied: int = 0  # inserted
    present: int = 0  # already there, equal
    updated: int = 0  # there, with a mutable column the source has changed since
    only_in_destination: int = 0  # the destination has them, the source does not


@dataclass(frozen=True)
class Digest:
    """A table's row count and an order-independent checksum of its rows' values: the sum,
    modulo 2^128, of each row's BLAKE2b digest (a sum, not a XOR, so two equal rows do not
    cancel out)."""

    rows: int
    checksum: int

    @property
    def hex(self) -> str:
        return f"{self.checksum:032x}"


@dataclass(frozen=True)
class TableCheck:
    """One table's digest on both sides of a copy."""

    name: str
    source: Digest
    destination: Digest

    @property
    def same(self) -> bool:
        return self.source == self.destination
