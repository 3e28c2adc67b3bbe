"""Demo bills for the simulator (development only): the demo catalogue, its agencies, and a few
bills addressed to each demo person. Idempotent: agencies are found by name, bills by reference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select

from bot.config import Settings
from bot.payments.agencies import AgencyPrincipal, create_agency
from bot.payments.bills import BillRequest, issue_bill
from bot.payments.catalogue import DEMO_CATALOGUE, import_items, read_catalogue
from bot.payments.errors import BillReferenceConflict
from storage.db import Database
from storage.models.payment_agency import PaymentAgency

# (agency, item code, amount in fen) billed to every demo person.
DEMO_BILLS = (
    ("广州市天河区教育局", "GZ-HS-TUITION", 120_000),
    ("广州市天河区教育局", "GZ-HS-BOARDING", 60_000),
    ("广东省教育考试院", "GD-GAOKAO-EXAM", 16_000),
    ("广州市公安局", "GZ-ID-REISSUE", 4_000),
)


def _agency(database: Database, settings: Settings, name: str) -> AgencyPrincipal:
    with database.transaction() as session:
        row = session.scalars(select(PaymentAgency).where(PaymentAgency.name == name)).first()
        if row is not None:
            return AgencyPrincipal(row.id, row.public_id, row.name)
        agency, _key = create_agency(session, settings, name)  # the demo never uses the key
        return agency


def seed_demo_bills(
    database: Database, settings: Settings, people: Iterable[tuple[str, str]]
) -> int:
    """Import the demo catalogue and bill each (ID number, name); returns bills created."""
    import_items(database, read_catalogue(DEMO_CATALOGUE))
    due = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    created = 0
    for index, (id_number, name) in enumerate(people):
        for agency_name, code, amount in DEMO_BILLS:
            agency = _agency(database, settings, agency_name)
            request = BillRequest(code, id_number, name, amount, due, f"DEMO-{index}-{code}")
            try:
                with database.transaction() as session:
                    created += issue_bill(session, settings, agency, request).status == "created"
            except BillReferenceConflict:
                continue  # seeded on an earlier day (another due date): keep that bill
    return created
