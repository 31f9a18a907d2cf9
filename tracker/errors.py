"""Errors meant for the user: the CLI turns each into one line on stderr and exit 1.

    TrackerError
    ├── ConfigError      a config file, setting or command-line value is wrong
    ├── InputError       a value the user typed is wrong (a date, an amount, a holder)
    ├── SourceError      one price source failed; carries the source name and an outcome
    ├── StoreError       the database cannot be opened, is not ours, or is too new
    └── ServiceError     `tracker run` cannot start: another one holds the database
                         (defined in scheduler.py, the one place that raises it)

A round without a quorum is not an error but a status (``degraded``), so the consensus never
raises. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


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
    ) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.outcome = outcome
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class StoreError(TrackerError):
    """The database cannot be used."""
