"""Database helpers shared by services."""

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
