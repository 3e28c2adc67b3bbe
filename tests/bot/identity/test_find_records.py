"""``find_records`` (one query for a whole import batch) agrees with ``find_record`` row by row,
including records still under a retired hash key during a rotation."""

from __future__ import annotations

import base64
import datetime as dt
import os
from typing import Any

from bot.extensions import database, settings
from bot.identity.idnumber import make_id_number
from bot.identity.registry import find_record, find_records, id_lookup_hash
from storage.models.registry_record import RegistryRecord

CURRENT, RETIRED = os.urandom(32), os.urandom(32)
NUMBERS = [make_id_number("440106", dt.date(1980, 1, 1), n) for n in (1, 2, 3, 4)]


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _record(id_hash: str, marker: str) -> RegistryRecord:
    return RegistryRecord(
        id_hash=id_hash,
        id_number_sealed=b"\x02",
        name_sealed=b"\x02",
        photo_sealed=b"\x02",
        birth_date=dt.date(1980, 1, 1),
        sex="M",
        expires_on=dt.date(2040, 1, 1),
        row_digest=marker * 64,
    )


def test_find_records_agrees_with_find_record(make_app: Any) -> None:
    app = make_app(hash_key=_b64(CURRENT), hash_keys_retired=_b64(RETIRED))
    current, retired, both, absent = NUMBERS
    with database(app).transaction() as session:
        session.add(_record(id_lookup_hash(CURRENT, current), "a"))
        session.add(_record(id_lookup_hash(RETIRED, retired), "b"))
        session.add(_record(id_lookup_hash(RETIRED, both), "c"))  # mid-rotation leftover
        session.add(_record(id_lookup_hash(CURRENT, both), "d"))  # the current key wins
    config = settings(app)
    with database(app).transaction() as session:
        found = find_records(session, config, [n.lower() for n in NUMBERS] + [current])
        assert set(found) == {current, retired, both}
        assert {n: r.row_digest[0] for n, r in found.items()} == {
            current: "a",
            retired: "b",
            both: "d",
        }
        for number in NUMBERS:
            assert found.get(number) is find_record(session, config, number)
        assert absent not in found and find_records(session, config, []) == {}
