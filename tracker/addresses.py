"""A holder's address book: every address checked before it is stored, then added, listed and
removed by the ledger's rules (removal keeps the row, marked; nothing is silently overwritten).

Validation is pure. Base58Check (P2PKH, P2SH) uses the ``base58`` library; bech32 and bech32m
(BIP-173, BIP-350) follow the BIP-350 reference implementation. Only Bitcoin mainnet is
accepted: a testnet or regtest address names no coins a state could hold. A bech32 address is
stored in lowercase, its one canonical form.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from tracker.errors import InputError
from tracker.inputs import check_text

if TYPE_CHECKING:
    from sqlmodel import Session

    from tracker.chain_models import Address

MAX_ADDRESS_CHARS = 90  # bech32's limit; a Base58Check address is 26 to 35 characters
KINDS = ("official", "attributed")  # chain_models.AddressKind, here without the store

# --- validation: Base58Check -----------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_MAINNET = {0x00: "p2pkh", 0x05: "p2sh"}
_TESTNET = {0x6F: "P2PKH", 0xC4: "P2SH"}


@dataclass(frozen=True)
class AddressInfo:
    """A checked mainnet address in its canonical form and its type: p2pkh, p2sh, p2wpkh,
    p2wsh, p2tr, or witness_vN (a segwit version not yet defined on the network)."""

    address: str
    type: str


def _base58(text: str) -> AddressInfo:
    import base58

    bad = next((c for c in text if c not in _B58), None)
    if bad is not None:
        raise InputError(f"address {text!r} has {bad!r}, which is not a Base58 character")
    try:
        payload = base58.b58decode_check(text)
    except ValueError:
        raise InputError(f"address {text!r} fails its Base58Check checksum (a typo?)") from None
    version = payload[0] if payload else None
    if len(payload) != 21 or version is None:
        raise InputError(f"address {text!r} is not 20 bytes after its version byte")
    if version in _TESTNET:
        raise InputError(f"address {text!r} is a testnet {_TESTNET[version]} address, not mainnet")
    if version not in _MAINNET:
        raise InputError(
            f"address {text!r} has version byte 0x{version:02x}: mainnet addresses use 0x00 "
            "(P2PKH) or 0x05 (P2SH)"
        )
    return AddressInfo(text, _MAINNET[version])


# --- validation: bech32 and bech32m (BIP-173, BIP-350) ------------------------------------

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Encoding(Enum):
    BECH32 = 1
    BECH32M = 0x2BC830A3  # the constant each checksum is xored with


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, g in enumerate(_GENERATOR):
            chk ^= g if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def bech32_decode(text: str) -> tuple[str, list[int], Encoding]:
    """(hrp, data without checksum, encoding) of a bech32 or bech32m string; InputError names
    what is wrong."""
    if any(ord(x) < 33 or ord(x) > 126 for x in text):
        raise InputError(f"address {text!r} has a character outside printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise InputError(f"address {text!r} mixes upper and lower case")
    if len(text) > MAX_ADDRESS_CHARS:
        raise InputError(f"address {text!r} is longer than {MAX_ADDRESS_CHARS} characters")
    lower = text.lower()
    pos = lower.rfind("1")
    if pos < 1:
        raise InputError(f"address {text!r} has no bech32 prefix (such as bc1)")
    if pos + 7 > len(lower):
        raise InputError(f"address {text!r} is too short for a bech32 checksum")
    bad = next((c for c in lower[pos + 1 :] if c not in CHARSET), None)
    if bad is not None:
        raise InputError(f"address {text!r} has {bad!r}, which is not a bech32 character")
    hrp, data = lower[:pos], [CHARSET.find(x) for x in lower[pos + 1 :]]
    const = _polymod(_hrp_expand(hrp) + data)
    found = next((e for e in Encoding if e.value == const), None)
    if found is None:
        raise InputError(f"address {text!r} fails its bech32 checksum (a typo?)")
    return hrp, data[:-6], found


def _convertbits(data: list[int], frombits: int, tobits: int) -> list[int] | None:
    """Regroup bits without padding (decoding); None if the padding is not BIP-173's."""
    acc = bits = 0
    ret: list[int] = []
    maxv = (1 << tobits) - 1
    max_acc = (1 << (frombits + tobits - 1)) - 1
    for value in data:
        acc = ((acc << frombits) | value) & max_acc
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return ret


def decode_segwit(hrp: str, text: str) -> tuple[int, bytes]:
    """(witness version, program) of a segwit address with prefix ``hrp``, by BIP-350's
    rules: v0 uses bech32 with a 20- or 32-byte program, v1 to v16 bech32m, 2 to 40 bytes."""
    got, data, encoding = bech32_decode(text)
    if got != hrp:
        raise InputError(f"address {text!r} has the prefix {got!r}, not {hrp!r}")
    if not data:
        raise InputError(f"address {text!r} has no witness version")
    version = data[0]
    if version > 16:
        raise InputError(f"address {text!r} has witness version {version}, not 0 to 16")
    program = _convertbits(data[1:], 5, 8)
    if program is None:
        raise InputError(f"address {text!r} has invalid padding in its witness program")
    if not 2 <= len(program) <= 40:
        raise InputError(f"address {text!r} has a {len(program)}-byte program, not 2 to 40")
    if version == 0 and len(program) not in (20, 32):
        raise InputError(
            f"address {text!r}: a v0 witness program is 20 or 32 bytes, not {len(program)}"
        )
    if version == 0 and encoding is not Encoding.BECH32:
        raise InputError(f"address {text!r}: a v0 address uses bech32, not bech32m (BIP-350)")
    if version > 0 and encoding is not Encoding.BECH32M:
        raise InputError(
            f"address {text!r}: a v{version} address uses bech32m, not bech32 (BIP-350)"
        )
    return version, bytes(program)


_OTHER_NETWORKS = {"tb": "a testnet", "bcrt": "a regtest"}


def _segwit(text: str) -> AddressInfo:
    hrp = text[: text.rfind("1")].lower()
    if hrp in _OTHER_NETWORKS:
        raise InputError(f"address {text!r} is {_OTHER_NETWORKS[hrp]} address, not mainnet")
    version, program = decode_segwit("bc", text)
    if version == 0:
        kind = "p2wpkh" if len(program) == 20 else "p2wsh"
    elif version == 1 and len(program) == 32:
        kind = "p2tr"
    else:
        kind = f"witness_v{version}"
    return AddressInfo(text.lower(), kind)


def check_address(text: str) -> AddressInfo:
    """A Bitcoin mainnet address, checked (checksum, network, witness rules) and in canonical
    form; anything else is an InputError of one line saying why."""
    check_text(text, what="the address")
    text = text.strip()
    if not text:
        raise InputError("the address is empty")
    if len(text) > MAX_ADDRESS_CHARS:
        raise InputError(f"address {text[:20]!r}… is longer than {MAX_ADDRESS_CHARS} characters")
    bech32 = text.lower().startswith(("bc1", "tb1", "bcrt1")) or any(c not in _B58 for c in text)
    return _segwit(text) if bech32 and "1" in text[1:] else _base58(text)


# --- the address book's entries ---------------------------------------------------------


@dataclass(frozen=True)
class AddressEntry:
    """One address of a holder's book, every field checked (not yet stored)."""

    holder: str
    address: str
    type: str
    kind: str
    label: str | None = None
    attributor: str | None = None
    source: str | None = None
    url: str | None = None
    as_of: dt.date | None = None
    note: str | None = None


def make_entry(
    *,
    holder: str,
    address: str,
    kind: str,
    label: str | None = None,
    attributor: str | None = None,
    source: str | None = None,
    url: str | None = None,
    as_of: dt.date | None = None,
    note: str | None = None,
    today: dt.date,
) -> AddressEntry:
    """An address book entry by the ledger's rules: a valid mainnet address, a known kind, an
    http(s) URL, a date no later than today; text without control characters."""
    from tracker.holdings import check_url
    from tracker.inputs import check_day, check_slug

    check_slug(holder)
    info = check_address(address)
    if kind not in KINDS:
        raise InputError(f"address kind {kind!r} is not one of: {', '.join(KINDS)}")
    for what, value in (("label", label), ("attributor", attributor), ("source", source)):
        if value is not None:
            check_text(value, what=f"the {what}")
    if note is not None:
        check_text(note, what="the note")
    if url is not None:
        check_url(url)
    if as_of is not None:
        check_day(as_of, today=today, what="as-of date")
    return AddressEntry(
        holder=holder, address=info.address, type=info.type, kind=kind, label=label or None,
        attributor=attributor or None, source=source or None, url=url or None, as_of=as_of,
        note=note or None,
    )  # fmt: skip


ENTRY_FIELDS = ("kind", "label", "attributor", "source", "url", "as_of", "note")


def same_entry(row: Address, entry: AddressEntry) -> bool:
    return all(getattr(row, f) == getattr(entry, f) for f in ENTRY_FIELDS)


# --- the address book ---------------------------------------------------------------------


def live_addresses(session: Session, holder_id: int) -> list[Address]:
    """A holder's addresses in use (not removed), oldest first."""
    from sqlmodel import col, select

    from tracker.chain_models import Address

    query = select(Address).where(Address.holder_id == holder_id)
    query = query.where(col(Address.removed_at).is_(None)).order_by(col(Address.id))
    return list(session.exec(query))


def find_address(session: Session, address: str) -> list[Address]:
    """Every row of this (canonical) address, in any holder's book, removed or not."""
    from sqlmodel import col, select

    from tracker.chain_models import Address

    query = select(Address).where(Address.address == address).order_by(col(Address.id))
    return list(session.exec(query))


def list_addresses(session: Session, holders: list[str] | None = None) -> list[tuple[str, Address]]:
    """(holder slug, address) for the addresses in use, holder by holder in the holders'
    order, each holder's oldest first; only those of ``holders`` when given (each must exist)."""
    from tracker.store import queries

    every = queries.list_holders(session=session)
    if holders:
        known = {h.slug for h in every}
        for slug in holders:
            if slug not in known:
                raise InputError(f"unknown holder {slug!r}: see `tracker holders list`")
        every = [h for h in every if h.slug in set(holders)]
    return [(h.slug, a) for h in every if h.id is not None for a in live_addresses(session, h.id)]


def add_address(session: Session, entry: AddressEntry, *, origin: str = "user") -> Address:
    """Store ``entry`` in its holder's book. Refused when the holder is unknown or the address
    is in use in any holder's book; one this holder removed is brought back under its old id
    with the new fields (the unique (holder, address) pair keeps one row per holder)."""
    from tracker.chain_models import Address
    from tracker.clock import utc_now
    from tracker.store import queries

    holder = queries.get_holder(session=session, slug=entry.holder)
    if holder is None or holder.id is None:
        raise InputError(f"unknown holder {entry.holder!r}: see `tracker holders list`")
    rows = find_address(session, entry.address)
    live = next((r for r in rows if r.removed_at is None), None)
    if live is not None:
        whose = "its" if live.holder_id == holder.id else "another holder's"
        raise InputError(
            f"address {entry.address} is in {whose} book already (id {live.id}): see "
            "`tracker addresses list`"
        )
    row = next((r for r in rows if r.holder_id == holder.id), None)
    if row is None:
        row = Address(holder_id=holder.id, address=entry.address, kind=entry.kind)
    for name in ENTRY_FIELDS:
        setattr(row, name, getattr(entry, name))
    row.origin, row.removed_at, row.recorded_at = origin, None, utc_now()
    session.add(row)
    session.flush()
    return row


def remove_address(session: Session, address_id: int) -> Address:
    """Mark an address removed: the row stays (its id is never reused, its transactions are
    kept) and a sync of the shipped ledger does not bring it back."""
    from tracker.chain_models import Address
    from tracker.clock import utc_now

    row = session.get(Address, address_id)
    if row is None:
        raise InputError(f"no address with id {address_id}: see `tracker addresses list`")
    if row.removed_at is not None:
        raise InputError(f"address {address_id} ({row.address}) is removed already")
    row.removed_at = utc_now()
    session.add(row)
    session.flush()
    return row
