"""The service's log lines: one per round on stderr, as text or JSON for a log collector."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from tracker.models import RoundReport, RoundStatus

log = logging.getLogger("tracker.service")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def setup_logging(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def log_round(rr: RoundReport) -> None:
    price = "-" if rr.price is None else format(rr.price, "f")
    used = ",".join(rr.sources_used) or "-"
    bad = {x.source: x.outcome.value for x in rr.lines if x.outcome.value != "accepted"}
    failed = ",".join(f"{k}:{v}" for k, v in bad.items())
    level = logging.INFO if rr.status is RoundStatus.OK else logging.WARNING
    log.log(
        level,
        "round %s %s price=%s sources=%s duration=%.2fs%s",
        rr.round_id, rr.status.value, price, used, rr.duration_s,
        f" failed={failed}" if failed else "",
        extra={"fields": {
            "event": "round", "round_id": rr.round_id, "status": rr.status.value,
            "price": None if rr.price is None else format(rr.price, "f"),
            "sources": list(rr.sources_used), "duration_s": round(rr.duration_s, 3),
            "failed": bad,
        }},
    )  # fmt: skip
