"""The colour of the pass in the card pack: light credentials in the grey class, upgraded ones
in the colour class, and each code revoked under its own class (the emulator checks it)."""

from __future__ import annotations

import json
from typing import Any

from bot.credentials.service import issue_credential, new_card_code, revoke_credential
from bot.extensions import database
from bot.vocab import CredentialReason, Level
from bot.wechat.app import wechat_api
from bot.wechat.cards import current_card
from bot.wechat.config import DEV_CARD_ID, DEV_CARD_ID_UPGRADED
from bot.wechat.emulator.server import Emulator
from tests.registry_factories import add_record

OPENID, DEVICE = "o-colour", "device-colour"


def _issue(app: Any, subject: int, level: str) -> str:
    """Issue a credential with a card code, as enrolment does with the card pack on."""
    with database(app).transaction() as session:
        issued = issue_credential(
            session,
            subject_id=subject,
            level=Level(level),
            openid=OPENID,
            device_id=DEVICE,
            card_code=new_card_code(),
        )
    return issued.credential_id


def _add_to_card_pack(app: Any, emulator: Emulator) -> tuple[str, str]:
    """What the mini-program does: fetch the cardExt and let the user add it; (class, code)."""
    with app.app_context():
        card = current_card(database(app), wechat_api(), OPENID, DEVICE, named=OPENID)
    code = json.loads(card.card_ext)["code"]
    emulator.add_card(OPENID, card.card_id, code)
    return card.card_id, code


def test_create_the_colour_class(wechat_app: Any, emulator: Emulator) -> None:
    result = wechat_app.test_cli_runner().invoke(
        args=["wechat", "create-card-class", "--level", "upgraded"]
    )
    assert result.exit_code == 0, result.output
    card_id = result.stdout.strip().splitlines()[0]
    assert "WANGZHENG_WECHAT_CARD_ID_UPGRADED=" + card_id in result.stderr
    colour = emulator.card_classes[card_id]["member_card"]["base_info"]["color"]
    grey = wechat_app.test_cli_runner().invoke(args=["wechat", "create-card-class"])
    grey_id = grey.stdout.strip().splitlines()[0]
    assert (colour, emulator.card_classes[grey_id]["member_card"]["base_info"]["color"]) == (
        "Color030",
        "Color102",
    )


def test_a_light_pass_is_grey_and_an_upgraded_one_colour(
    wechat_app: Any, emulator: Emulator, login: Any
) -> None:
    login(OPENID, DEVICE)
    subject = add_record(wechat_app)
    _issue(wechat_app, subject, "light")
    light_class, light_code = _add_to_card_pack(wechat_app, emulator)
    _issue(wechat_app, subject, "upgraded")
    upgraded_class, upgraded_code = _add_to_card_pack(wechat_app, emulator)
    assert (light_class, upgraded_class) == (DEV_CARD_ID, DEV_CARD_ID_UPGRADED)
    # The upgrade superseded the light credential: its grey card left the card pack.
    assert emulator.cards[light_code].status == "UNAVAILABLE"
    assert emulator.cards[upgraded_code].status == "NORMAL"


def test_an_upgraded_card_is_revoked_under_its_own_class(
    wechat_app: Any, emulator: Emulator, login: Any
) -> None:
    login(OPENID, DEVICE)
    credential_id = _issue(wechat_app, add_record(wechat_app), "upgraded")
    card_class, code = _add_to_card_pack(wechat_app, emulator)
    assert card_class == DEV_CARD_ID_UPGRADED
    with database(wechat_app).transaction() as session:
        revoke_credential(session, credential_id, CredentialReason.CITIZEN_REQUEST)
    (call,) = emulator.calls_to("/card/code/unavailable")
    assert call.body == {"code": code, "card_id": DEV_CARD_ID_UPGRADED}
    # Under the grey class the emulator (as WeChat) would answer 40056 and the card would stay.
    assert emulator.cards[code].status == "UNAVAILABLE"
