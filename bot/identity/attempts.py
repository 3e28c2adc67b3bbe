"""Daily limits on failed enrolment attempts, per account (openid) and per ID number.

Invariants:
- A slot is reserved (``incr``, then compared with the limit) before any work, and refunded
  (``decr``) unless the outcome charges it. Of N parallel attempts at most ``limit`` ever hold a
  slot, whatever their timing, so the limit holds exactly under concurrency and across workers.
- A counter therefore counts the day's charged failures plus the attempts still in flight; an
  attempt refused while another is in flight may succeed once that one is settled.
- Windows are fixed one-day windows of the short-lived store keyed by the UTC date; the ID
  number appears only as its keyed lookup hash.
"""

from __future__ import annotations

import datetime as dt

from bot.config import Settings
from bot.errors import RateLimited
from storage.ephemeral import EphemeralStore

DAY_S = 86_400


class TooManyAttempts(RateLimited):
    """Too many failed enrolment attempts today."""

    code = "too_many_attempts"


def _day() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d")


def charge_failure(store: EphemeralStore, openid: str) -> None:
    """Count one failure against the account at once, without a reservation: for an answer
    that needed no work (an unknown or foreign session id), so nothing can race past it.
    """
    store.incr(f"enrol:fail:openid:{openid}:{_day()}", DAY_S)


class AttemptBudget:
    """One attempt's reserved slots; :meth:`settle` refunds those its outcome did not charge."""

    def __init__(self, store: EphemeralStore, by_openid: str, by_id: str | None) -> None:
        self.store = store
        self.by_openid = by_openid
        self.by_id = by_id
        self.charge_openid = False
        self.charge_id = False

    @classmethod
    def reserve(
        cls, store: EphemeralStore, settings: Settings, openid: str, id_hash: str | None
    ) -> AttemptBudget:
        """Take one slot from each counter, or refund what was taken and refuse."""
        day = _day()
        budget = cls(store, f"enrol:fail:openid:{openid}:{day}", None)
        if store.incr(budget.by_openid, DAY_S) > settings.enrol_max_failures_per_openid:
            budget.settle()
            raise TooManyAttempts("Too many failed attempts from this account today.")
        if id_hash:
            budget.by_id = f"enrol:fail:id:{id_hash}:{day}"
            if store.incr(budget.by_id, DAY_S) > settings.enrol_max_failures_per_id:
                budget.settle()
                raise TooManyAttempts("Too many failed attempts for this ID number today.")
        return budget

    def fail(self, *, per_id: bool) -> None:
        """Charge this attempt to the account, and to the ID number when ``per_id``."""
        self.charge_openid = True
        self.charge_id = per_id

    def settle(self) -> None:
        """Refund every reserved slot the outcome did not charge (call exactly once)."""
        if not self.charge_openid:
            self.store.decr(self.by_openid)
        if self.by_id and not self.charge_id:
            self.store.decr(self.by_id)
