"""The address book: every address checked (Base58Check, bech32/bech32m by BIP-173 and BIP-350,
mainnet only), `tracker addresses list|add|remove` on SQLite and PostgreSQL, and the shipped
addresses applied with the ledger (idempotent, never bringing back what was removed)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable

import base58
import pytest
from typer.testing import Result

from tracker.addresses import (
    Encoding,
    bech32_decode,
    check_address,
    decode_segwit,
    live_addresses,
    make_entry,
)
from tracker.errors import InputError
from tracker.ledger_csv import ADDRESS_COLUMNS, read_addresses, shipped_text, write_addresses

Run = Callable[..., Result]
TODAY = dt.date(2026, 1, 1)

# --- test vectors ---------------------------------------------------------------------------
# From BIP-173, "Test vectors" (https://github.com/bitcoin/bips/blob/master/bip-0173.mediawiki)
BIP173_VALID_BECH32 = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11" + "q" * 82 + "c8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
BIP173_INVALID_BECH32 = [
    "\x201nwldj5",  # HRP character out of range
    "\x7f1axkwrx",  # HRP character out of range
    "\x801eym55h",  # HRP character out of range
    # overall max length exceeded
    "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
    "pzry9x0s0muk",  # no separator character
    "1pzry9x0s0muk",  # empty HRP
    "x1b4n0q5v",  # invalid data character
    "li1dgmt3",  # too short checksum
    "de1lg7wt\xff",  # invalid character in checksum
    "A1G7SGD8",  # checksum calculated with uppercase form of HRP
    "10a06t8",  # empty HRP
    "1qzzfhee",  # empty HRP
]
BIP173_INVALID_ADDRESSES = [
    "tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty",  # invalid human-readable part
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # invalid checksum
    "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",  # invalid witness version
    "bc1rw5uspcuh",  # invalid program length
    "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",  # length
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",  # invalid program length for witness version 0
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",  # mixed case
    "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",  # zero padding of more than 4 bits
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",  # non-zero padding
    "bc1gmk9yu",  # empty data section
]
# BIP-173's valid v1+ addresses use bech32: BIP-350 makes them invalid (they must use bech32m).
BIP173_V1_PLUS_NOW_INVALID = [
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
    "BC1SW50QA3JX3S",
    "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
]

# From BIP-350, "Test vectors" (https://github.com/bitcoin/bips/blob/master/bip-0350.mediawiki)
BIP350_VALID_BECH32M = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11" + "l" * 83 + "udsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
BIP350_INVALID_BECH32M = [
    "\x201xj0phk",  # HRP character out of range
    "\x7f1g6xzxy",  # HRP character out of range
    "\x801vctc34",  # HRP character out of range
    # overall max length exceeded
    "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
    "qyrz8wqd2c9m",  # no separator character
    "1qyrz8wqd2c9m",  # empty HRP
    "y1b0jsk6g",  # invalid data character
    "lt1igcx5c0",  # invalid data character
    "in1muywd",  # too short checksum
    "mm1crxm3i",  # invalid character in checksum
    "au1s5cgom",  # invalid character in checksum
    "M1VUXWEZ",  # checksum calculated with uppercase form of HRP
    "16plkw9",  # empty HRP
    "1p2gdwpf",  # empty HRP
]
BIP350_VALID_ADDRESSES = [  # (address, scriptPubKey)
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]
BIP350_INVALID_ADDRESSES = [
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",  # invalid HRP
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # bech32, not bech32m
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",  # bech32, not bech32m
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",  # bech32, not bech32m
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # bech32m, not bech32
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",  # bech32m, not bech32
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",  # bad checksum character
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",  # invalid witness version
    "bc1pw5dgrnzv",  # invalid program length (1 byte)
    # invalid program length (41 bytes)
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",  # invalid program length for witness version 0
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",  # mixed case
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",  # zero padding > 4 bits
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",  # non-zero padding
    "bc1gmk9yu",  # empty data section
]

# The fake "government" addresses of /work/shared/data/ledger/README.md: a real address's
# prefix, a failing checksum.
FAKE_GOVERNMENT = [
    "bc1qq0l4jgg9rcm3puhhvwq0yreg5dtkxsuprcdun2",  # "German Government"
    "1CRjKZJu8LvTutnEKe3vCMXbMgrPnhp9LM",  # "UK Government"
]
SHIPPED = [row["address"] for row in csv.DictReader(io.StringIO(shipped_text("addresses.csv")))]
US_ADDRESS = "bc1qazcm763858nkj2dj986etajv6wquslv8uxwczt"  # shipped, the United States'
P2TR = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"  # BIP-350, not shipped


# --- bech32 and bech32m ----------------------------------------------------------------------


@pytest.mark.parametrize("text", BIP173_VALID_BECH32)
def test_bip173_valid_bech32(text: str) -> None:
    assert bech32_decode(text)[2] is Encoding.BECH32


@pytest.mark.parametrize("text", BIP350_VALID_BECH32M)
def test_bip350_valid_bech32m(text: str) -> None:
    assert bech32_decode(text)[2] is Encoding.BECH32M


@pytest.mark.parametrize("text", BIP173_INVALID_BECH32 + BIP350_INVALID_BECH32M)
def test_bip173_and_bip350_invalid_strings(text: str) -> None:
    with pytest.raises(InputError):
        bech32_decode(text)


def _script(version: int, program: bytes) -> str:
    return (bytes([version + 0x50 if version else 0, len(program)]) + program).hex()


@pytest.mark.parametrize(("address", "script"), BIP350_VALID_ADDRESSES)
def test_bip350_valid_addresses_decode_to_their_script(address: str, script: str) -> None:
    hrp = address[: address.rfind("1")].lower()
    assert _script(*decode_segwit(hrp, address)) == script


@pytest.mark.parametrize(
    "address", BIP350_INVALID_ADDRESSES + BIP173_INVALID_ADDRESSES + BIP173_V1_PLUS_NOW_INVALID
)
def test_bip173_and_bip350_invalid_addresses(address: str) -> None:
    for hrp in ("bc", "tb"):
        with pytest.raises(InputError):
            decode_segwit(hrp, address)
    with pytest.raises(InputError):
        check_address(address)


def test_a_v1_address_with_a_bech32_checksum_is_named() -> None:
    with pytest.raises(InputError, match="a v1 address uses bech32m, not bech32"):
        check_address(BIP173_V1_PLUS_NOW_INVALID[0])
    with pytest.raises(InputError, match="a v0 address uses bech32, not bech32m"):
        check_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh")


# --- check_address --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "canonical", "kind"),
    [
        ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
         "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "p2wpkh"),
        (US_ADDRESS, US_ADDRESS, "p2wpkh"),
        (P2TR, P2TR, "p2tr"),
        (BIP350_VALID_ADDRESSES[2][0], BIP350_VALID_ADDRESSES[2][0], "witness_v1"),  # 40 bytes
        ("BC1SW50QGDZ25J", "bc1sw50qgdz25j", "witness_v16"),
        ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
         "witness_v2"),
        (base58.b58encode_check(b"\x00" + bytes(20)).decode(), "1111111111111111111114oLvT2",
         "p2pkh"),
        ("32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo", "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo", "p2sh"),
        ("  32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo ", "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo", "p2sh"),
    ],
)  # fmt: skip
def test_mainnet_addresses_pass_in_canonical_form(address: str, canonical: str, kind: str) -> None:
    info = check_address(address)
    assert (info.address, info.type) == (canonical, kind)


def test_a_bip350_p2wsh_address_is_p2wsh_on_mainnet() -> None:
    version, program = decode_segwit(
        "bc", "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
    )
    assert (version, len(program)) == (0, 32)
    assert (
        check_address("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3").type
        == "p2wsh"
    )


@pytest.mark.parametrize("address", SHIPPED)
def test_every_shipped_address_passes(address: str) -> None:
    assert check_address(address).address == address


def test_the_shipped_file_has_its_23_addresses() -> None:
    assert len(SHIPPED) == len(set(SHIPPED)) == 23


@pytest.mark.parametrize("address", FAKE_GOVERNMENT)
def test_the_fake_government_addresses_fail_their_checksum(address: str) -> None:
    with pytest.raises(InputError, match="checksum"):
        check_address(address)


@pytest.mark.parametrize("address", SHIPPED)
def test_a_one_character_typo_in_a_shipped_address_is_caught(address: str) -> None:
    at = len(address) // 2
    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l" if address.startswith("bc1") else "abcdefgh"
    typo = next(c for c in alphabet if c != address[at])
    with pytest.raises(InputError, match="checksum"):
        check_address(address[:at] + typo + address[at + 1 :])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "is a testnet P2PKH address, not mainnet"),
        (base58.b58encode_check(b"\xc4" + bytes(20)).decode(), "testnet P2SH address"),
        (base58.b58encode_check(b"\x30" + bytes(20)).decode(), "version byte 0x30: mainnet"),
        (base58.b58encode_check(b"\x00" + bytes(19)).decode(), "not 20 bytes"),
        (BIP350_VALID_ADDRESSES[1][0], "is a testnet address, not mainnet"),
        ("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "is a regtest address, not mainnet"),
        ("tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "prefix 'tc', not 'bc'"),
        (US_ADDRESS[:10] + US_ADDRESS[10:].upper(), "mixes upper and lower case"),
        ("0x742d35Cc6634C0532925a3b844Bc454e4438f44e", "not a Base58 character"),
        ("", "the address is empty"),
        ("bc1q" + "q" * 100, "longer than 90"),
        ("bc1qazcm763858nkj2dj986\x1b[2J", "control character U+001B"),
    ],
)
def test_bad_addresses_say_why_in_one_line(address: str, reason: str) -> None:
    with pytest.raises(InputError) as e:
        check_address(address)
    assert reason in str(e.value) and "\n" not in str(e.value)


def test_make_entry_checks_every_field() -> None:
    entry = make_entry(holder="germany", address=P2TR.upper(), kind="official", today=TODAY)
    assert (entry.address, entry.type, entry.label) == (P2TR, "p2tr", None)
    bad: list[tuple[dict[str, object], str]] = [
        ({"kind": "rumoured"}, "kind 'rumoured' is not one of: official, attributed"),
        ({"url": "ftp://x.org/a"}, "not an http(s) link"),
        ({"as_of": dt.date(2026, 1, 2)}, "in the future"),
        ({"holder": "Not A Slug"}, "holder slug"),
        ({"label": "a\x07b"}, "control character"),
    ]
    for change, reason in bad:
        fields: dict[str, object] = {"holder": "germany", "address": P2TR, "kind": "official"}
        with pytest.raises(InputError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            make_entry(**{**fields, **change}, today=TODAY)  # type: ignore[arg-type]


# --- addresses.csv -------------------------------------------------------------------------


def test_the_shipped_addresses_csv_reads_and_writes_back_the_same() -> None:
    text = shipped_text("addresses.csv")
    entries = read_addresses(text, name="addresses.csv", today=TODAY)
    assert len(entries) == 23
    assert write_addresses(e for _, e in entries) == text


@pytest.mark.parametrize(
    ("row", "where"),
    [
        (f"germany,{FAKE_GOVERNMENT[0]},attributed,,,,,,", "line 3, column address"),
        (f"germany,{P2TR},suspected,,,,,,", "line 3, column kind"),
        (f"germany,{P2TR},official,,,,ftp://x,,", "line 3, column url"),
        (f"germany,{P2TR},official,,,,,2026-13-01,", "line 3, column as_of"),
        (f"germany,{US_ADDRESS},official,,,,,,", "line 3, column address: " + US_ADDRESS),
        (f",{P2TR},official,,,,,,", "line 3, column holder"),
        (f"germany,{P2TR},official,,,,,,,extra", "line 3: more fields"),
    ],
)
def test_a_bad_addresses_row_is_named_by_line_and_column(row: str, where: str) -> None:
    text = f"{','.join(ADDRESS_COLUMNS)}\ngermany,{US_ADDRESS},official,,,,,,\n{row}\n"
    with pytest.raises(InputError, match=f"^mine.csv, {where}"):
        read_addresses(text, name="mine.csv", today=TODAY)


# --- the commands ---------------------------------------------------------------------------


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def one_error_line(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def listed(run_cli: Run, *extra: str, db: str | None = None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(
        ok(run_cli("addresses", "list", "-f", "json", *extra, db=db))
    )["addresses"]
    return rows


def test_a_new_database_has_the_shipped_addresses(run_cli: Run, db_url: str) -> None:
    rows = listed(run_cli, db=db_url)
    assert sorted(r["address"] for r in rows) == sorted(SHIPPED)
    assert {r["origin"] for r in rows} == {"ledger"}
    us = listed(run_cli, "--holder", "united-states")
    assert [(r["address"], r["type"], r["kind"], r["as_of"]) for r in us] == [
        (US_ADDRESS, "p2wpkh", "attributed", "2022-02-01")
    ]
    two = listed(run_cli, "--holder", "germany", "--holder", "united-states")
    assert {r["holder"] for r in two} == {"germany", "united-states"} and len(two) == 3
    es = listed(run_cli, "--holder", "el-salvador")
    # 1 official + 19 attributed (data/ledger/README.md says "20 other": the file has 19)
    assert len(es) == 20 and [r["id"] for r in es] == sorted(r["id"] for r in es)  # type: ignore[type-var]
    assert es[0]["kind"] == "official" and es[1]["url"] is None


def test_the_csv_is_an_addresses_csv(run_cli: Run) -> None:
    text = ok(run_cli("addresses", "list", "-f", "csv"))
    assert text.splitlines()[0] == ",".join(ADDRESS_COLUMNS)
    assert sorted(text.splitlines()) == sorted(shipped_text("addresses.csv").splitlines())
    md = ok(run_cli("addresses", "list", "-f", "markdown", "--holder", "germany"))
    assert md.count("\n") == 4 and "| germany | bc1qq0l4" in md


def test_without_the_shipped_ledger_the_books_are_empty(run_cli: Run, two_holders: object) -> None:
    assert listed(run_cli) == []
    assert "No addresses." in ok(run_cli("addresses", "list"))


def test_add_list_remove_and_bring_back(run_cli: Run, db_url: str) -> None:
    ok(run_cli("addresses", "list", db=db_url))
    done = ok(run_cli(
        "addresses", "add", "germany", P2TR.upper(), "--kind", "official", "--label", "Test",
        "--attributor", "Bundestag", "--source", "A reply", "--url", "https://example.org/a",
        "--as-of", "2025-01-02", "--note", "n",
    ))  # fmt: skip
    new = listed(run_cli, "--holder", "germany")[-1]
    assert done == f"added address {new['id']} to germany: {P2TR} (p2tr, official)\n"
    assert (new["address"], new["label"], new["attributor"], new["source"]) == (
        P2TR, "Test", "Bundestag", "A reply"
    )  # fmt: skip
    assert (new["url"], new["as_of"], new["note"], new["origin"]) == (
        "https://example.org/a", "2025-01-02", "n", "user"
    )  # fmt: skip
    line = one_error_line(run_cli("addresses", "add", "germany", P2TR, "--kind", "official"))
    assert f"is in its book already (id {new['id']})" in line
    line = one_error_line(run_cli("addresses", "add", "finland", P2TR, "--kind", "official"))
    assert "another holder's book" in line

    assert ok(run_cli("addresses", "remove", str(new["id"]))) == (
        f"removed address {new['id']} ({P2TR})\n"
    )
    assert P2TR not in [r["address"] for r in listed(run_cli)]
    assert "is removed already" in one_error_line(run_cli("addresses", "remove", str(new["id"])))
    assert "no address with id 9999" in one_error_line(run_cli("addresses", "remove", "9999"))

    # another holder may take it now; this holder's removed row stays removed
    ok(run_cli("addresses", "add", "finland", P2TR, "--kind", "attributed"))
    finland = listed(run_cli, "--holder", "finland")
    assert finland[0]["id"] != new["id"] and finland[0]["kind"] == "attributed"
    ok(run_cli("addresses", "remove", str(finland[0]["id"])))
    # brought back under its old id, with the fields given now
    ok(run_cli("addresses", "add", "germany", P2TR, "--kind", "attributed"))
    back = listed(run_cli, "--holder", "germany")[-1]
    assert (back["id"], back["kind"], back["label"], back["url"]) == (
        new["id"], "attributed", None, None
    )  # fmt: skip


def snapshot(run_cli: Run) -> str:
    return ok(run_cli("addresses", "list", "-f", "json"))


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["germany", FAKE_GOVERNMENT[0], "--kind", "official"], "fails its bech32 checksum"),
        (["germany", FAKE_GOVERNMENT[1], "--kind", "official"], "fails its Base58Check checksum"),
        (["germany", BIP350_VALID_ADDRESSES[1][0], "--kind", "official"], "testnet"),
        (["germany", P2TR, "--kind", "rumoured"], "is not one of: official, attributed"),
        (["germany", P2TR, "--kind", "official", "--url", "javascript:alert(1)"], "http(s)"),
        (["germany", P2TR, "--kind", "official", "--as-of", "2999-01-01"], "in the future"),
        (["germany", P2TR, "--kind", "official", "--as-of", "yesterday"], "not a date"),
        (["atlantis", P2TR, "--kind", "official"], "unknown holder 'atlantis'"),
        (["germany", P2TR, "--kind", "official", "--note", "\x1b[2J"], "control character"),
    ],
)
def test_bad_input_is_one_line_and_nothing_written(
    run_cli: Run, args: list[str], reason: str
) -> None:
    before = snapshot(run_cli)
    assert reason in one_error_line(run_cli("addresses", "add", *args))
    assert snapshot(run_cli) == before


def test_usage_errors_are_exit_2(run_cli: Run) -> None:
    assert "--kind" in one_error_line(run_cli("addresses", "add", "germany", P2TR), code=2)
    one_error_line(run_cli("addresses", "remove", "x"), code=2)
    one_error_line(run_cli("addresses", "list", "-f", "yaml"), code=2)
    line = one_error_line(run_cli("addresses", "list", "--holder", "atlantis"))
    assert "unknown holder 'atlantis'" in line


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_table_fits_the_terminal(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    long_url = "https://example.org/" + "a-very-long-path/" * 10
    ok(run_cli("addresses", "add", "germany", P2TR, "--kind", "official", "--url", long_url,
               "--label", "word " * 40))  # fmt: skip
    monkeypatch.setenv("COLUMNS", str(width))
    text = ok(run_cli("addresses", "list"))
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "united-states" in text and "p2tr" in text


# --- the shipped addresses and sync ----------------------------------------------------------


def test_sync_is_idempotent_and_keeps_removed_addresses_removed(run_cli: Run, db_url: str) -> None:
    ok(run_cli("addresses", "list", db=db_url))
    before = snapshot(run_cli)
    done = run_cli("holdings", "sync")
    assert done.exit_code == 0 and "address" not in done.stderr, done.stderr
    assert snapshot(run_cli) == before
    us = listed(run_cli, "--holder", "united-states")[0]
    ok(run_cli("addresses", "remove", str(us["id"])))
    done = run_cli("holdings", "sync")
    assert done.exit_code == 0
    assert f"united-states: address(es) {us['id']} of the shipped ledger were removed here" in (
        done.stderr
    )
    assert listed(run_cli, "--holder", "united-states") == []


def test_sync_keeps_your_own_version_and_says_so(run_cli: Run, db_url: str) -> None:
    ok(run_cli("addresses", "list", db=db_url))
    us = listed(run_cli, "--holder", "united-states")[0]
    ok(run_cli("addresses", "remove", str(us["id"])))
    ok(run_cli("addresses", "add", "united-states", US_ADDRESS, "--kind", "official"))
    done = run_cli("holdings", "sync")
    assert f"address {us['id']} ({US_ADDRESS}) of united-states: yours differs" in done.stderr
    mine = listed(run_cli, "--holder", "united-states")[0]
    assert (mine["id"], mine["kind"], mine["origin"]) == (us["id"], "official", "user")


def test_sync_brings_a_shipped_address_up_to_date_and_adds_missing_ones(db_url: str) -> None:
    """A row of the shipped ledger takes the shipped fields again; a deleted one is added."""
    from sqlmodel import Session, select

    from tracker.chain_models import Address
    from tracker.clock import utc_today
    from tracker.config import load_settings
    from tracker.ledger_sync import sync_ledger
    from tracker.store.migrate import open_database

    settings = load_settings(None)
    engine = open_database(db_url, settings=settings, create_dirs=True).engine
    with Session(engine) as session:
        rows = list(session.exec(select(Address)))
        assert len(rows) == 23
        rows[0].note = "edited"
        session.add(rows[0])
        session.delete(rows[-1])
        session.commit()
        result = sync_ledger(session=session, settings=settings, today=utc_today())
        session.commit()
        assert (result.addresses_added, result.addresses_present) == (1, 22)
        assert result.conflicts == []
        assert rows[0].note == "Funds split across new addresses on 2025-08-29"
        holder_id = rows[0].holder_id
        live = live_addresses(session, holder_id)
        assert [a.id for a in live] == sorted(a.id or 0 for a in live) and len(live) == 20
    engine.dispose()
