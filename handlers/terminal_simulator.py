"""The browser simulator of a trusted terminal, ``/terminal`` (development only, like ``/``).

It plays the kiosk: it opens a session and shows its QR, lets you pick a demo ID card (chip data
with a 102 x 126 photo made from the demo person's registry photo), takes a live face from the
camera or a sample photo, and posts the card. The page signs every terminal request itself, in
the browser (WebCrypto HMAC-SHA256, the rule of ``docs/terminals.md``), with the key of the demo
terminal that ``/terminal/api/setup`` creates (or re-keys) for it: the server side is the real
terminal API, nothing is bypassed.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from bot.credentials.qr import qr_svg
from bot.demo.chip import chip_photo
from bot.demo.service import DEMO_EXPIRY, DEMO_PEOPLE, SAMPLE_FILES
from bot.errors import NotFound
from bot.extensions import database, settings
from bot.face.service import get_engine
from bot.terminals.registry import create_terminal, rotate_terminal_key
from bot.vocab import Level
from handlers.pages import PAGE_SOURCES, html_page
from handlers.schemas import Out
from storage.models.terminal import Terminal

terminal_simulator = APIBlueprint(
    "terminal_simulator", __name__, tag="Terminal simulator (development only)"
)
DEMO_TERMINAL = "Simulator terminal"
DEMO_SITE = "Development service hall"


class CardOut(Out):
    """A demo ID card: what its chip holds (the photo is at ``chip_photo_url``)."""

    user: str
    name: str
    id_number: str
    expires_on: str
    chip_photo_url: str


class SetupOut(Out):
    """The demo terminal (a fresh key on each call), the demo cards and the live samples."""

    terminal_id: str
    key: str
    site: str
    cards: list[CardOut]
    live_samples: list[str]


class QrIn(BaseModel):
    """A QR payload to draw."""

    model_config = ConfigDict(strict=True, extra="forbid")

    payload: str = Field(min_length=1, max_length=200)


class QrSvgOut(Out):
    """The QR as inline SVG."""

    svg: str


@terminal_simulator.get("/terminal")
@terminal_simulator.doc(hide=True)
def terminal_page() -> Response:
    """The terminal simulator page."""
    return html_page("terminal.html", {**PAGE_SOURCES, "img_src": "blob: data: 'self'"})


@terminal_simulator.post("/terminal/api/setup")
@terminal_simulator.output(SetupOut)
@terminal_simulator.doc(summary="The demo terminal with a fresh key, and the demo ID cards")
def setup() -> dict[str, Any]:
    """Create the demo terminal once; every call rotates its key and hands it to the page."""
    with database().transaction() as session:
        existing = session.scalars(
            select(Terminal.public_id).where(Terminal.name == DEMO_TERMINAL)
        ).first()
        if existing is None:
            issued = create_terminal(session, settings(), name=DEMO_TERMINAL, site=DEMO_SITE)
        else:
            issued = rotate_terminal_key(session, settings(), existing)
    return {
        "terminal_id": issued.terminal.public_id,
        "key": issued.key,
        "site": issued.terminal.site,
        "cards": [
            {
                "user": person.user,
                "name": person.name,
                "id_number": person.id_number,
                "expires_on": DEMO_EXPIRY.isoformat(),
                "chip_photo_url": f"/terminal/api/chips/{person.user}.jpg",
            }
            for person in DEMO_PEOPLE
        ],
        "live_samples": sorted(SAMPLE_FILES),
    }


@terminal_simulator.get("/terminal/api/chips/<string:user>.jpg")
@terminal_simulator.doc(hide=True)
def chip(user: str) -> Response:
    """A demo person's chip photo: their registry photo framed and scaled to 102 x 126."""
    person = next((p for p in DEMO_PEOPLE if p.user == user), None)
    photo = (
        settings().instance_path
        / "demo"
        / "face_recognition"
        / (person.reference if person else "")
    )
    if person is None or not photo.is_file():
        raise NotFound("No such demo card (run `flask dev prepare`).")
    data = chip_photo(get_engine(settings()), photo.read_bytes())
    return Response(data, mimetype="image/jpeg")


@terminal_simulator.post("/terminal/api/qr")
@terminal_simulator.input(QrIn, arg_name="body")
@terminal_simulator.output(QrSvgOut)
@terminal_simulator.doc(summary="Draw a session QR", responses={400: "validation_error"})
def qr(body: QrIn) -> dict[str, Any]:
    """The session's QR payload as SVG (the terminal's screen)."""
    return {"svg": qr_svg(body.payload, Level.LIGHT)}
