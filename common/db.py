"""Database helpers shared by services."""

import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError

logger = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def retry_on_deadlock(fn: Callable[[], T], *, attempts: int = 4) -> T:
    """Run a whole transaction again when PostgreSQL aborts it to break a deadlock (or a serialization
    failure), with a short jittered pause. `fn` must open its own transaction."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            if attempt == attempts - 1 or not is_retryable(exc):
                raise
            logger.info("transaction retried", extra={"attempt": attempt + 1, "sqlstate": exc.__cause__.sqlstate})
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    raise AssertionError("unreachable")


class advisory_lock:  # noqa: N801 - used as a context manager
    """`pg_try_advisory_lock(space, key)` held for the block, at session level, so it is released with
    the connection of a killed worker. Entering returns whether the lock was acquired; on databases
    without advisory locks (SQLite, the demo's single worker) it is always acquired."""

    def __init__(self, space: int, key: int) -> None:
        self.key = (space, key & 0x7FFFFFFF)
        self.held = False

    def __enter__(self) -> bool:
        from django.db import connection

        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", self.key)
            self.held = bool(cursor.fetchone()[0])
        return self.held

    def __exit__(self, *exc_info: object) -> None:
        from django.db import DatabaseError, connection

        if self.held:
            # A broken connection has lost the lock with its session; don't hide the error that broke it.
            with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
