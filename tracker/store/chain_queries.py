"""Store queries of the on-chain checks: which holders have live addresses, storing a check
with every explorer's answer, and the latest check per holder."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import Session, col, select

from tracker.chain_models import Address, VerifyAnswer, VerifyCheck
from tracker.models import Holder


def holders_with_addresses(*, session: Session, slugs: Sequence[str] | None = None) -> list[Holder]:
    """Live holders with at least one live address (of ``slugs`` when given), by slug."""
    has = select(Address.holder_id).where(col(Address.removed_at).is_(None)).distinct()
    query = select(Holder).where(col(Holder.removed_at).is_(None), col(Holder.id).in_(has))
    if slugs is not None:
        query = query.where(col(Holder.slug).in_(list(slugs)))
    return list(session.exec(query.order_by(col(Holder.slug))))


def insert_check(
    *, session: Session, check: VerifyCheck, answers: Iterable[VerifyAnswer]
) -> VerifyCheck:
    """Add a check with its answers; the caller's transaction makes it atomic."""
    session.add(check)
    session.flush()
    assert check.id is not None
    for answer in answers:
        answer.check_id = check.id
        session.add(answer)
    session.flush()
    return check


def check_answers(*, session: Session, check_id: int) -> list[VerifyAnswer]:
    rows = session.exec(
        select(VerifyAnswer).where(VerifyAnswer.check_id == check_id).order_by(col(VerifyAnswer.id))
    )
    return list(rows)


def latest_checks(*, session: Session) -> dict[int, VerifyCheck]:
    """Each holder's newest check (the last stored), for the report and status."""
    newest = (
        select(
            col(VerifyCheck.holder_id),
            sa.func.max(col(VerifyCheck.id)).label("id"),
        )
        .group_by(col(VerifyCheck.holder_id))
        .subquery()
    )
    rows = session.exec(select(VerifyCheck).where(col(VerifyCheck.id).in_(select(newest.c.id))))
    return {row.holder_id: row for row in rows}
