import pytest
from django.db import OperationalError

from common.db import retry_on_deadlock


class Cause(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def failing(times: int, sqlstate: str):  # type: ignore[no-untyped-def]
    calls = []

    def fn():  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("boom") from Cause(sqlstate)
        return "ok"

    return fn, calls


def test_deadlocks_are_retried():
    fn, calls = failing(2, "40P01")

    assert retry_on_deadlock(fn) == "ok"
    assert len(calls) == 3


def test_other_errors_are_not_retried():
    fn, calls = failing(1, "57014")

    with pytest.raises(OperationalError):
        retry_on_deadlock(fn)
    assert len(calls) == 1


def test_gives_up_after_the_last_attempt():
    fn, calls = failing(10, "40001")

    with pytest.raises(OperationalError):
        retry_on_deadlock(fn, attempts=3)
    assert len(calls) == 3
