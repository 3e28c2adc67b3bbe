"""The 8-digit password: the weak-password rules, argon2id, and the lockout under concurrency."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from bot.extensions import clock
from bot.terminals.errors import PasswordInvalid, PasswordLocked
from bot.terminals.passwords import (
    LOCK_STEPS_S,
    MAX_FAILURES,
    birth_date_forms,
    check_password,
    dates_spelled,
    hash_password,
    weakness,
)
from storage.ephemeral import EphemeralStore

RIGHT = "27364159"
BIRTH = dt.date(1990, 3, 7)


@pytest.mark.parametrize(
    "password",
    ["00000000", "12345678", "23456789", "90123456", "87654321", "10987654", "3210987a", "1234567",
     "123456789", "", "\uff12\uff17\uff13\uff16\uff14\uff11\uff15\uff19", "19900307",
     "07031990", "03071990", "19900703"],
)  # fmt: skip
def test_weak_or_malformed_passwords_are_refused(password: str) -> None:
    assert weakness(password, BIRTH) is not None


@pytest.mark.parametrize("password", [RIGHT, "13572468", "19900308", "11112222", "98765433"])
def test_ordinary_passwords_are_accepted(password: str) -> None:
    assert weakness(password, BIRTH) is None


def test_the_hash_is_argon2id() -> None:
    stored = hash_password("07031990")
    assert stored.startswith("$argon2id$") and "07031990" not in stored


@pytest.mark.parametrize("form", birth_date_forms(BIRTH))
def test_every_birth_date_form_is_recognised_later(form: str) -> None:
    assert BIRTH in dates_spelled(form)
    assert BIRTH not in dates_spelled(RIGHT) and dates_spelled("99999999") == ()


@pytest.fixture
def stored() -> str:
    """One hash for the lockout tests (argon2 is slow by design)."""
    return hash_password(RIGHT)


def _attempt(store: EphemeralStore, app: Any, stored: str, password: str) -> str:
    try:
        check_password(store, "cr_test", stored, password, clock(app))
    except PasswordInvalid:
        return "invalid"
    except PasswordLocked:
        return "locked"
    return "ok"


def test_five_wrong_then_locked_for_longer_each_time(
    app: Any, store: EphemeralStore, stored: str
) -> None:
    clock(app).set(1_900_000_000)
    for lock_seconds in LOCK_STEPS_S[:3]:
        results = [_attempt(store, app, stored, "99999990") for _ in range(MAX_FAILURES)]
        assert results == ["invalid"] * MAX_FAILURES
        assert _attempt(store, app, stored, RIGHT) == "locked"  # even the right one, while locked
        with pytest.raises(PasswordLocked) as locked:
            check_password(store, "cr_test", stored, RIGHT, clock(app))
        assert int(locked.value.headers["Retry-After"]) == lock_seconds
        clock(app).advance(lock_seconds - 1)
        assert _attempt(store, app, stored, RIGHT) == "locked"
        clock(app).advance(1)
    assert _attempt(store, app, stored, RIGHT) == "ok"


def test_a_right_password_gives_its_slot_back(app: Any, store: EphemeralStore, stored: str) -> None:
    clock(app).set(1_900_000_000)
    for _ in range(10):
        assert _attempt(store, app, stored, RIGHT) == "ok"
    assert [_attempt(store, app, stored, "99999990") for _ in range(MAX_FAILURES)] == [
        "invalid"
    ] * MAX_FAILURES
    assert _attempt(store, app, stored, RIGHT) == "locked"


def test_concurrent_guesses_get_exactly_five_comparisons(
    app: Any, store: EphemeralStore, stored: str
) -> None:
    clock(app).set(1_900_000_000)
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def guess(n: int) -> None:
        start.wait()
        outcomes.append(_attempt(store, app, stored, f"5550{n:04d}"))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["invalid"] * MAX_FAILURES + ["locked"] * (12 - MAX_FAILURES)
    # One lock was started, not one per racer: it lasts the first step, then guessing resumes.
    clock(app).advance(LOCK_STEPS_S[0])
    assert _attempt(store, app, stored, RIGHT) == "ok"
