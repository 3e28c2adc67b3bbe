"""Demo registry and self-registration for the browser simulator (development only).

Invariants:
- Demo ID numbers are synthetic (valid check digit, region 110101) and the demo people's photos
  are the public sample photos of :mod:`bot.demo.photos`; nothing here touches real identities.
- Seeding is idempotent (the registry import skips unchanged rows).
- A self-registered reference photo goes through the same quality gates as an import and is
  sealed like any registry photo; it is never written to disk.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.identity.idnumber import make_id_number
from bot.identity.importer import ImportReport, import_records, upsert_record
from bot.identity.registry import Embedder
from storage.db import Database

DEMO_EXPIRY = dt.date(2036, 12, 31)


@dataclass(frozen=True)
class DemoPerson:
    """A demo registry subject and the sample frames that answer a one-turn challenge."""

    user: str
    name: str
    id_number: str
    reference: str
    frames: dict[str, tuple[str, str]]


# Frames per step: real frames of one head turn (bot.demo.photos.TURN_FRAMES, landmark yaws
# 342: -0.8, 360: +11.0, 51: -0.2, 18: -11.2 degrees). The Obama photos come from different
# occasions and cannot answer a challenge any more (docs/face.md), so Obama has none.
DEMO_PEOPLE = (
    DemoPerson(
        user="lin",
        name="林晓雯",
        id_number=make_id_number("110101", dt.date(1992, 5, 17), 303),
        reference="turn_264.jpg",
        frames={
            "left": ("turn_342.jpg", "turn_360.jpg"),
            "right": ("turn_051.jpg", "turn_018.jpg"),
        },
    ),
    DemoPerson(
        user="obama",
        name="欧巴马",
        id_number=make_id_number("110101", dt.date(1961, 8, 4), 101),
        reference="obama.jpg",
        frames={},
    ),
    DemoPerson(
        user="biden",
        name="拜登",
        id_number=make_id_number("110101", dt.date(1942, 11, 20), 202),
        reference="biden.jpg",
        frames={},
    ),
)
SAMPLE_FILES = frozenset(
    {"obama2.jpg", "obama3.jpg", "biden.jpg"}
    | {name for person in DEMO_PEOPLE for files in person.frames.values() for name in files}
)


def seed_demo_registry(
    database: Database, settings: Settings, embedder: Embedder, photos_dir: Path
) -> ImportReport:
    """Import every demo person whose reference photo is present."""
    rows = [
        (
            index + 2,
            {
                "id_number": person.id_number,
                "name": person.name,
                "photo": person.reference,
                "expires_on": DEMO_EXPIRY.isoformat(),
            },
        )
        for index, person in enumerate(DEMO_PEOPLE)
        if (photos_dir / person.reference).is_file()
    ]
    return import_records(database, settings, rows, photos_dir, embedder)


def register_self(
    database: Database, settings: Settings, embedder: Embedder, name: str, photo: bytes
) -> str:
    """Create a demo record for the person at the camera; returns its synthetic ID number."""
    birth = dt.date(1990, 1, 1) + dt.timedelta(days=secrets.randbelow(7000))
    number = make_id_number("110101", birth, 500 + secrets.randbelow(499))
    with database.transaction() as session:
        upsert_record(session, settings, number, name.strip(), DEMO_EXPIRY, photo, embedder)
    return number
