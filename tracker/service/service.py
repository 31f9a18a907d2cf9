"""The background service: APScheduler wiring, signals, exit codes and the watchdog.

The business logic is ``rounds.collect``/``rounds.store_round`` (the code path of `tracker
fetch`) and ``daily.backfill.store_daily_close``; this module only decides when they run and
what happens around them. On PostgreSQL only the leader runs them, and writes through its
fenced session (``locks.PostgresLeader``); a new leader's first round waits until the last
stored round is one interval old.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from tracker import rounds
from tracker.clock import utc_now
from tracker.config import Settings
from tracker.daily import backfill
from tracker.errors import Exit, SourceError, StoreError
from tracker.models import RoundReport
from tracker.service.locks import LostLeadership, PostgresLeader, SQLiteLock
from tracker.service.logs import log, log_round
from tracker.service.metrics import Metrics
from tracker.service.verify_job import verify_job
from tracker.store import queries
from tracker.store.engine import read_session, write_connection

SHUTDOWN_GRACE_S = 8.0  # SIGTERM: the round in flight gets this long to finish or roll back
VERIFY_FIRST_AFTER_S = 60.0  # the first on-chain check waits for the first round to be stored


@dataclass
class Service:
    """`tracker run`: a round every ``schedule.interval_s``, a daily close after midnight UTC."""

    settings: Settings
    engine: Engine
    lock: SQLiteLock | PostgresLeader
    metrics: Metrics | None = None
    exit_code: int = Exit.OK
    db_failures: int = 0
    clock: Callable[[], float] = time.monotonic  # the watchdog's clock
    last_tick: float = 0.0  # when the last round started, by ``clock``
    _loop: asyncio.AbstractEventLoop | None = None
    _io_thread: threading.Thread | None = None
    _client: httpx.AsyncClient | None = None
    _inflight: concurrent.futures.Future[rounds.Collected] | None = None
    _daily: concurrent.futures.Future[Any] | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _finished: threading.Event = field(default_factory=threading.Event)
    watchdog_slack_s: float = 30.0
    _idle: threading.Event = field(default_factory=threading.Event)
    _scheduler: Any = None
    _client_factory: Callable[[], httpx.AsyncClient] | None = None

    def __post_init__(self) -> None:
        self.last_tick = self.clock()

    # the event loop that runs rounds, in its own thread, with one client for the service

    def _start_loop(self) -> None:
        """Start the loop and build the client; on failure nothing is left running."""
        from tracker.sources.http import make_client

        self._loop = asyncio.new_event_loop()
        self._io_thread = threading.Thread(
            target=self._loop.run_forever, name="tracker-io", daemon=True
        )
        self._io_thread.start()
        factory = self._client_factory or make_client

        async def build() -> httpx.AsyncClient:
            return factory()

        try:
            self._client = asyncio.run_coroutine_threadsafe(build(), self._loop).result()
        except BaseException:
            self._stop_loop()
            raise
        self._idle.set()

    def _stop_loop(self) -> None:
        """Close the client, stop the loop's thread, then close the loop itself."""
        loop, thread, self._loop, self._io_thread = self._loop, self._io_thread, None, None
        if loop is None:
            return
        if self._client is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._client.aclose(), loop).result(2)
            self._client = None
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(2)
        if loop.is_running():  # a stuck task holds the thread: leave it to the exit
            log.error("the service's event loop did not stop")
            return
        with contextlib.suppress(Exception):
            leftover = asyncio.all_tasks(loop)
            for task in leftover:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    # leadership (PostgreSQL): only the leader runs jobs, and writes through its own session

    def writer(self) -> Engine:
        return self.lock.writer if isinstance(self.lock, PostgresLeader) else self.engine

    def leads(self, job: str) -> bool:
        if not isinstance(self.lock, PostgresLeader):
            return True
        if self.lock.ensure():
            return True
        log.info("standby: another instance leads; not %s", job)
        return False

    def _too_soon_after_the_last_round(self) -> bool:
        """A new leader's first round waits until the newest stored round (its
        predecessor's, perhaps) is one interval old, so a failover adds no extra round."""
        if not isinstance(self.lock, PostgresLeader) or not self.lock.new_term:
            return False
        with read_session(self.engine) as session:
            newest = queries.recent_rounds(session=session, limit=1)
        interval = self.settings.schedule.interval_s
        if newest and (age := (utc_now() - newest[0].started_at).total_seconds()) < interval:
            log.info(
                "leading: the newest round started %.1f s ago; the first round of this "
                "instance waits until it is %g s old", age, interval,
            )  # fmt: skip
            return True
        self.lock.new_term = False
        return False

    def _lost_leadership(self, e: StoreError) -> bool:
        """After a failed write: was it the leader's session that went (not a failure of
        the database)? A session that still holds the lock means the database failed."""
        if not isinstance(self.lock, PostgresLeader):
            return False
        try:
            if self.lock.holds():
                return False
        except StoreError:
            return False  # no database at all: a database failure
        self.lock.lost(f"the round was not stored ({e.reason})")
        return True

    # jobs

    def fetch_job(self) -> RoundReport | None:
        """One round; failures are logged and counted, never raised into the scheduler."""
        self.last_tick = self.clock()
        if self._stopping.is_set():
            return None
        assert self._loop is not None and self._client is not None
        try:
            if not self.leads("fetching") or self._too_soon_after_the_last_round():
                self.db_failures = 0
                return None
            self._idle.clear()
            coro = rounds.collect(client=self._client, settings=self.settings)
            self._inflight = asyncio.run_coroutine_threadsafe(coro, self._loop)
            collected = self._inflight.result()
            self._inflight = None  # from here on the round is written whole, not cancelled
            rr = rounds.store_round(self.writer(), collected)
        except concurrent.futures.CancelledError:
            log.warning("round cancelled by shutdown while fetching; nothing of it was stored")
            return None
        except LostLeadership as e:
            assert isinstance(self.lock, PostgresLeader)
            self.lock.lost(f"the round was not stored ({e})")
            self.db_failures = 0
            return None
        except StoreError as e:
            if not e.operational:
                raise
            if self._lost_leadership(e):
                self.db_failures = 0
            else:
                self._database_failed(e)
            return None
        except Exception:
            log.exception("round failed")
            return None
        finally:
            self._inflight = None
            self._idle.set()
        self.db_failures = 0
        log_round(rr)
        if self.metrics is not None:
            self.metrics.observe(rr)
        return rr

    def _database_failed(self, e: StoreError) -> None:
        self.db_failures += 1
        limit = self.settings.schedule.max_db_failures
        reason = e.reason
        log.error(
            "round not stored: database unavailable (%s); %d of %d consecutive",
            reason, self.db_failures, limit,
            extra={"fields": {"event": "db_failure", "count": self.db_failures}},
        )  # fmt: skip
        if self.db_failures >= limit:
            log.critical("database unreachable for %d rounds: exiting for a restart", limit)
            self.stop(Exit.DB_UNREACHABLE)

    def daily_job(self) -> None:
        """Store yesterday's daily close: Bitstamp's finished candle when it answers, else
        the close of our own consensus rounds of that day (backfill.store_daily_close).
        On PostgreSQL only the leader does, through its fenced session."""
        day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        try:
            if not self.leads("storing the daily close"):
                return
        except StoreError as e:
            log.error("daily close for %s not stored: database unavailable (%s)", day, e.reason)
            return
        try:
            self._store_exchange_close(day)
        except SourceError as e:
            log.warning("daily close for %s: %s unavailable (%s)", day, backfill.PRIMARY, e.reason)
        except LostLeadership as e:
            self._lost_daily(e)
            return
        except Exception:
            log.exception("daily close for %s from %s failed", day, backfill.PRIMARY)
        try:
            source = backfill.store_daily_close(engine=self.writer(), day=day)
        except LostLeadership as e:
            self._lost_daily(e)
            return
        except Exception:
            log.exception("daily close for %s failed", day)
            return
        if source is None:
            log.warning("no daily close for %s: no history and no consensus that day", day)
        else:
            log.info("daily close for %s stored from %s", day, source)

    def _lost_daily(self, e: LostLeadership) -> None:
        assert isinstance(self.lock, PostgresLeader)
        self.lock.lost(f"the daily close was not stored ({e})")

    def _store_exchange_close(self, day: dt.date) -> None:
        assert self._loop is not None and self._client is not None
        where = backfill.endpoint(self.settings, backfill.PRIMARY)
        coro = backfill.fetch_day(
            self._client, day, base_url=where.base_url, timeout_s=where.timeout_s, retries=2
        )
        self._daily = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            row = self._daily.result(timeout=4 * where.timeout_s)
        finally:
            self._daily = None
        if row is not None:
            with write_connection(self.writer()) as conn:
                queries.insert_daily_prices(conn=conn, rows=[row])

    def watchdog_check(self) -> bool:
        """APScheduler 3 can stop running jobs while still reporting itself running; a
        round that has not started long after it was due means the service must restart.
        Returns True when it asked the service to stop."""
        interval = self.settings.schedule.interval_s
        limit = (
            max(3 * interval, interval + self.settings.fetch.round_timeout_s)
            + self.watchdog_slack_s
        )
        if self.clock() - self.last_tick <= limit:
            return False
        log.critical("no round started for %.0f s: scheduler stalled, exiting", limit)
        self.stop(Exit.STALLED)
        return True

    def _watch(self) -> None:
        """The watchdog runs in its own thread, not as a job of the scheduler it watches."""
        period = min(self.settings.schedule.interval_s, 5.0)
        while not self._stopping.wait(period):
            if self.watchdog_check():
                break
        # a main loop too stuck to notice the stop: leave anyway, the supervisor restarts us
        if self.exit_code and not self._finished.wait(SHUTDOWN_GRACE_S + 5):
            log.critical("the scheduler did not stop: exiting hard")
            os._exit(self.exit_code)

    # lifecycle

    def stop(self, code: int | None = None) -> None:
        """Ask the service to end; the round in flight is cancelled (it rolls back, or
        finishes its one write transaction if it is already writing)."""
        if code is not None and self.exit_code == Exit.OK:
            self.exit_code = code
        self._stopping.set()
        for running in (self._inflight, self._daily):
            if running is not None:
                running.cancel()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        self.stop()

    def run_once(self) -> int:
        """One round, like `tracker fetch`; the lock is released however it ends."""
        self.lock.acquire()
        try:
            self._start_loop()
            try:
                rr = self.fetch_job()
            finally:
                self._stop_loop()
        finally:
            self.lock.release()
        if rr is None:
            return self.exit_code or Exit.ERROR
        return Exit.OK if rr.price is not None else Exit.ERROR

    def run(self) -> int:
        """Run until stopped; the lock is released however it ends."""
        self.lock.acquire()
        try:
            return self._run_scheduler()
        finally:
            self.lock.release()

    def _run_scheduler(self) -> int:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        self._start_loop()
        interval = self.settings.schedule.interval_s
        at = dt.time.fromisoformat(self.settings.schedule.daily_close_at)
        scheduler = BlockingScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(max_workers=3)},
            job_defaults={
                "coalesce": True,  # after a pause, one catch-up round, not a burst
                "max_instances": 1,  # a slow round is never overlapped by the next
                "misfire_grace_time": max(1, int(interval)),
            },
        )

        scheduler.add_job(
            self.fetch_job, IntervalTrigger(seconds=interval), id="fetch",
            next_run_time=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        scheduler.add_job(
            self.daily_job, CronTrigger(hour=at.hour, minute=at.minute, timezone=dt.UTC),
            id="daily_close",
        )  # fmt: skip
        verify_every = self.settings.verify.interval_s
        scheduler.add_job(
            verify_job, IntervalTrigger(seconds=verify_every), args=(self,), id="verify",
            next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=VERIFY_FIRST_AFTER_S),
        )  # fmt: skip
        self._scheduler = scheduler
        threading.Thread(target=self._watch, name="tracker-watchdog", daemon=True).start()
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        log.info(
            "service started: a round every %gs, daily close at %s UTC, pid %d",
            interval, self.settings.schedule.daily_close_at, os.getpid(),
        )  # fmt: skip
        try:
            scheduler.start()  # blocks until stop()
        except Exception:
            # not swallowed: the scheduler's own failure ends the service for a restart
            log.exception("the scheduler failed")
            self.exit_code = self.exit_code or Exit.STALLED
        finally:
            self._stopping.set()
            if not self._idle.wait(SHUTDOWN_GRACE_S):
                log.error("the round in flight did not end within %.0f s", SHUTDOWN_GRACE_S)
            for s, handler in previous.items():
                signal.signal(s, handler)
            self._stop_loop()
            log.info("service stopped (exit %d)", self.exit_code)
            self._finished.set()
        return self.exit_code
