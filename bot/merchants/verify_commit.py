"""Running one verification in its transaction, in as few round trips as the backend allows.

On PostgreSQL the verification runs in a pipelined transaction (:mod:`storage.pipelined`): its
``BEGIN`` travels with the credential query, and the audit row (which is the token's single-use
mark) travels with the ``COMMIT``. A valid verify with warm caches then costs two PostgreSQL
round trips. Elsewhere (SQLite) it is the plain :meth:`~storage.db.Database.transaction`.

Invariants:
- The answer is returned only after the transaction that holds its audit row committed; a
  failed commit answers nothing (the error goes up: 503 or 500) and burns nothing.
- A deferred marked insert that finds the mark used fails its whole transaction (the audit row,
  the ``MerchantVerified`` event's outbox rows, everything): nothing of the rejected use is
  kept. The replay is then recorded in a transaction of its own, and the answer is ``replayed``,
  as on the generic path, where the insert reports the used mark at once.
- A crash at any point leaves either no trace of the use (the token still usable, no answer
  given) or its audit row committed with the mark (then the token is spent, whether or not the
  answer reached the merchant): never a ``valid`` answer without its audit row.
"""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.merchants.accounts import MerchantPrincipal
from bot.merchants.audit import PendingReplay, mark_taken, record_audit
from bot.merchants.judgement import VerificationResult
from bot.merchants.verify import verify_presentation
from bot.vocab import VerifyReason, VerifyResult
from storage.db import Database
from storage.ephemeral import EphemeralStore


def verify_and_commit(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    merchant: MerchantPrincipal,
    token: str,
    **options: Any,
) -> VerificationResult:
    """:func:`~bot.merchants.verify.verify_presentation` (``options`` are its keyword
    arguments) in its own transaction, committed before the answer is returned."""
    replay = PendingReplay()
    try:
        with database.pipelined() as session:
            return verify_presentation(
                session, store, settings, merchant, token, replay=replay, **options
            )
    except Exception as error:
        if replay.entry is None or not mark_taken(error):
            raise
    with database.pipelined() as session:
        record_audit(session, settings.audit_key, replay.entry)
    return VerificationResult(VerifyResult.INVALID, VerifyReason.REPLAYED)
