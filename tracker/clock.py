"""Time: the one clock (UTC-aware), one day, day boundaries, and an age in words."""

from __future__ import annotations

import datetime as dt

DAY = dt.timedelta(days=1)
GENESIS = dt.date(2009, 1, 3)  # bitcoin's first block: nothing about it can be dated earlier


def utc_now() -> dt.datetime:
    """Now, timezone-aware UTC (the one place that asks the system clock)."""
    return dt.datetime.now(dt.UTC)


def utc_today() -> dt.date:
    return utc_now().date()


def end_of_day(day: dt.date) -> dt.datetime:
    """``--at 2025-04-14`` means the last second of that UTC day."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)


def start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)


def human_age(age: dt.timedelta) -> str:
    """``3 d 4 h``, ``2 h 5 min``, ``4 min 10 s`` or ``7 s``."""
    seconds = int(age.total_seconds())
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
