"""The service's check of every holder with addresses against the chain, every
`verify.interval_s`: on PostgreSQL only the leader runs it, and stores through its fenced
session; a failure is logged and the service goes on (the next interval tries again)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker.errors import StoreError, TrackerError
from tracker.service.locks import LostLeadership, PostgresLeader
from tracker.service.logs import log

if TYPE_CHECKING:
    from tracker.service.service import Service


def verify_job(service: Service) -> None:
    from tracker.verify import run_checks

    try:
        if not service.leads("checking the holders' addresses"):
            return
        results = run_checks(service.settings, service.writer())
    except LostLeadership as e:
        assert isinstance(service.lock, PostgresLeader)
        service.lock.lost(f"the on-chain checks were not stored ({e})")
        return
    except StoreError as e:
        log.error("on-chain checks not stored: database unavailable (%s)", e.reason)
        return
    except TrackerError as e:
        log.error("on-chain checks failed: %s", e)
        return
    except Exception:
        log.exception("on-chain checks failed")
        return
    for r in results:
        verdict = "" if r.verdict is None else f", {r.verdict.value}"
        level = log.info if r.ok else log.warning
        level(
            "on-chain check %s: %s%s at height %s (check %d)",
            r.holder, r.status.value, verdict, r.height, r.check_id,
        )  # fmt: skip
