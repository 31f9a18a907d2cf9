"""The ledger in and out of the store for `tracker holders` and `tracker holdings
import|export`: holders with their observation counts, an import that stores every row of a
file or none, and an export in the shipped CSV's columns that imports again."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sqlmodel import Session, col, select

from tracker.errors import InputError
from tracker.holdings import add_claim
from tracker.models import Claim, Holder, HolderInfo, Observation
from tracker.store import queries


def holder_counts(*, session: Session, removed: bool = False) -> list[tuple[HolderInfo, int, bool]]:
    """Every holder (the removed ones too when asked) with its live observations and whether
    it was removed, oldest holder first."""
    query = select(Holder)
    if not removed:
        query = query.where(col(Holder.removed_at).is_(None))
    holders = list(session.exec(query.order_by(col(Holder.id))))
    counts = Counter(o.holder_id for o in queries.list_observations(session=session))
    return [(HolderInfo.of(h), counts[h.id or 0], h.removed_at is not None) for h in holders]


def _norm(text: str | None) -> str | None:
    return None if text is None else text.strip() or None


def _differs(obs: Observation, claim: Claim) -> str | None:
    """The first column where a stored observation and an imported row disagree, or None."""
    pairs = (
        ("btc", obs.sats, claim.sats),
        ("bound", obs.bound, None if claim.bound is None else claim.bound.value),
        ("basis", obs.basis, claim.basis.value),
        ("scope", obs.scope, claim.scope.value),
        ("url", obs.url, claim.url),
        ("published", obs.published, claim.published),
        ("cost_basis_usd", obs.cost_basis_usd, claim.cost_basis_usd),
        ("note", _norm(obs.note), _norm(claim.note)),
    )
    for column, stored, given in pairs:
        if stored != given:
            return column
    if claim.supersedes is not None and claim.supersedes != obs.supersedes:
        return "supersedes"  # an export carries no ids, so only a given one is compared
    return None


def import_claims(
    *, session: Session, rows: Sequence[tuple[int, Claim]], name: str
) -> tuple[int, int]:
    """Store every row not stored yet, in the caller's one transaction: the first bad row
    raises InputError naming the file, line and column, and the caller's rollback leaves
    nothing stored. A row whose holder, date and source are stored with the same fields is
    already present. Returns (added, already present)."""
    added = present = 0
    seen: dict[tuple[str, object, str], int] = {}
    for line, claim in rows:
        where = f"{name}, line {line}"
        key = (claim.holder, claim.as_of, claim.source)
        if key in seen:
            raise InputError(
                f"{where}, column source: the same holder, as_of and source as line {seen[key]}"
            )
        seen[key] = line
        holder = queries.get_holder(session=session, slug=claim.holder)
        if holder is None or holder.id is None:
            raise InputError(
                f"{where}, column holder: unknown holder {claim.holder!r}: add it first with "
                f"`tracker holders add {claim.holder} --name NAME`"
            )
        stored = queries.find_observation(
            session=session, holder_id=holder.id, as_of=claim.as_of, source=claim.source
        )
        if stored is not None and stored.removed_at is None:
            column = _differs(stored, claim)
            if column is not None:
                raise InputError(
                    f"{where}, column {column}: differs from stored observation {stored.id} "
                    "(same holder, as_of and source); to correct it, give the row another "
                    f"source text and a supersedes column of {stored.id}"
                )
            present += 1
            continue
        try:
            add_claim(session=session, claim=claim)
        except InputError as e:
            flag = f"--supersedes {claim.supersedes}: "
            column = "supersedes" if str(e).startswith(flag) else "source"
            raise InputError(f"{where}, column {column}: {str(e).removeprefix(flag)}") from None
        added += 1
    return added, present


def _mode_for(path: Path) -> int:
    """The mode the file had, or the one a plain open() would give it (0666 less umask)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: a temporary file beside it, then a
    rename, so a reader never sees half a file and a failure leaves the old one."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp's 0600 would hide an export from others
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
