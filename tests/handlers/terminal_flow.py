"""Shared set-up of the terminal flow tests: a citizen, a registry record, a chip photo."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from bot.identity.idnumber import make_id_number
from tests.kit.terminal import TerminalClient
from tests.registry_factories import add_record

HOLDER_ID = make_id_number("440304", dt.date(1961, 8, 4), 101)
HOLDER_NAME = "欧巴马"
CARD_EXPIRY = dt.date(2036, 12, 31)
GOOD_PASSWORD = "27364159"


@dataclass
class Visit:
    """One citizen at one terminal, with the record their card belongs to."""

    terminal: TerminalClient
    access_token: str
    subject_id: int

    @property
    def auth(self) -> dict[str, str]:
        """The citizen's bearer header."""
        return {"Authorization": f"Bearer {self.access_token}"}


def start_visit(app: Any, login: Any, terminal: TerminalClient, openid: str = "o-holder") -> Visit:
    """A logged-in citizen and the registry record of the card they carry."""
    tokens = login(openid, "phone-" + openid)
    subject = add_record(app, id_number=HOLDER_ID, name=HOLDER_NAME, expires_on=CARD_EXPIRY)
    return Visit(terminal, tokens.access_token, subject)


def open_and_claim(visit: Visit, password: str | None = GOOD_PASSWORD) -> str:
    """Open a session, claim it as the citizen and set the password; returns the session id."""
    opened = visit.terminal.open()
    assert opened.status_code == 201, opened.get_json()
    body = opened.get_json()
    claimed = visit.terminal.client.post(
        "/api/v1/terminal-claims", json={"qr_payload": body["qr_payload"]}, headers=visit.auth
    )
    assert claimed.status_code == 200, claimed.get_json()
    if password is not None:
        answer = set_password(visit, body["session_id"], password)
        assert answer.status_code == 200, answer.get_json()
    return str(body["session_id"])


def set_password(visit: Visit, session_id: str, password: str) -> Any:
    """``PUT /api/v1/terminal-claims/<id>/password``."""
    return visit.terminal.client.put(
        f"/api/v1/terminal-claims/{session_id}/password",
        json={"password": password},
        headers=visit.auth,
    )


def chip_fields(chip: bytes, **overrides: Any) -> dict[str, Any]:
    """The multipart fields of a card read."""
    fields: dict[str, Any] = {
        "name": HOLDER_NAME,
        "id_number": HOLDER_ID,
        "expires_on": CARD_EXPIRY.isoformat(),
        "photo": chip,
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}
