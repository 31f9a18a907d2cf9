"""Errors meant for the user: the CLI turns each into one line on stderr and exit 1.

    TrackerError
    ├── ConfigError      a config file, setting or command-line value is wrong
    ├── InputError       a value the user typed is wrong (a date, an amount, a holder)
    ├── SourceError      one price source failed; carries the source name and an outcome
    ├── StoreError       the database cannot be opened, is not ours, or is too new
    └── ServiceError     `tracker run` cannot start: another one holds the database, or
                         its lock file cannot be written

Driver errors (SQLAlchemy, psycopg, sqlite3) become ``StoreError`` in ``store.engine`` and
nowhere else; ``cli.app`` turns every ``TrackerError`` into one line and an exit code, once.
A round without a quorum is not an error but a status (``degraded``), so the consensus never
raises. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """Every exit status of `tracker`, in one table (docs/commands.md shows the same)."""

    OK = 0
    ERROR = 1  # an error the user can fix; or a data condition: a degraded round, a stale price
    USAGE = 2  # a usage error (unknown option, bad value); `status`: never fetched
    DB_UNREACHABLE = 3  # `run`: the database stayed unreachable for schedule.max_db_failures
    STALLED = 4  # `run`: the scheduler stalled or failed; a supervisor should restart it
    INTERRUPTED = 130  # Ctrl-C (a backfill keeps the pages it stored)


class TrackerError(Exception):
    """Base class of the errors a user can act on."""


class ConfigError(TrackerError):
    """A configuration file, setting or option is wrong."""


class InputError(TrackerError):
    """A value given on the command line or in a file is wrong."""


class SourceError(TrackerError):
    """A price source failed.

    ``outcome`` is one of the stored per-source outcomes (``invalid``, ``http_error``,
    ``timeout``, ``rate_limited``); ``retry_after_s`` is set when the server asked us to wait.
    """

    def __init__(
        self,
        *,
        source: str,
        reason: str,
        outcome: str = "invalid",
        retryable: bool = False,
        retry_after_s: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.outcome = outcome
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.attempts = attempts  # how many requests it took to give up


class StoreError(TrackerError):
    """The database cannot be used.

    ``reason`` is the driver's first line when a driver error caused it; ``operational`` is
    True for a failure of the database itself (locked, unreachable, disk full, corrupt), as
    opposed to a database that is simply not ours or too new.
    """

    def __init__(
        self, message: str, *, reason: str | None = None, operational: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason or message
        self.operational = operational


class ServiceError(TrackerError):
    """The service cannot start (another instance holds the database, or its lock cannot be
    written)."""
