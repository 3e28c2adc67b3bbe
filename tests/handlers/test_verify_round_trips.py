"""How many network round trips one verification makes (issue 14), counted at the wire.

``storage.roundtrips`` reads libpq's protocol trace for PostgreSQL and counts Redis command
sends, so ``BEGIN`` and ``COMMIT`` count like any statement. A valid verify with warm caches is:
- Redis, 1: one pipeline with the merchant key's cached authentication and its rate-limit count
  (one script) and the presentation handle;
- PostgreSQL, 2, in one pipelined transaction (``storage.pipelined``): ``BEGIN`` with the narrow
  credential query, then the audit insert (which is the single-use mark) with ``COMMIT``. No
  pool pre-ping on a connection in use, no chain-head lock, no ``BEGIN`` of its own.

A replay finds the mark used at that commit: ``ROLLBACK``; psycopg then forgets the
connection's prepared statements (``storage.prepared``) with one ``DEALLOCATE ALL`` before the
next statement; and its own audit row (``BEGIN``, insert, ``COMMIT`` in one pipeline). So 5
PostgreSQL round trips, or 6 when psycopg already reads the insert's error while it sends
``COMMIT`` (the server flushes an error at once) and then waits once more for the end of the
failed pipeline. The replay is the rare path; the valid one stays at 2.

Only meaningful on PostgreSQL with Redis, the production pair: on SQLite or the SQL store
nothing goes over a network, so those combinations are deselected (``production_pair``), not
run.
"""

from __future__ import annotations

from typing import Any

import pytest

from storage.roundtrips import counting
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify

pytestmark = pytest.mark.production_pair


def test_a_verify_makes_three_round_trips_and_a_replay_two_more(
    app: Any, client: Any, login: Any
) -> None:
    citizen = enrolled(app, login)
    key = merchant_key(app)
    warm = fetch_token(client, citizen.access_token)
    assert verify(client, key, warm)[1]["result"] == "valid"  # caches: key lookup, signing key
    token = fetch_token(client, citizen.access_token)
    with counting() as seen:
        status, answer = verify(client, key, token)
    assert (status, answer["result"]) == (200, "valid")
    assert (seen.redis, seen.postgresql) == (1, 2), seen
    with counting() as seen:
        status, answer = verify(client, key, token)
    assert (status, answer["reason"]) == (200, "replayed")
    assert seen.redis == 1 and seen.postgresql in (5, 6), seen  # see the module docstring
