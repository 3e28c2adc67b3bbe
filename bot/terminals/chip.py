"""The ID card chip data a terminal posts, and the checks it must pass before any issuance.

Invariants:
- Order: chip photo (size, format, pixel dimensions), ID number shape, registry record by keyed
  hash, name (constant time), card expiry (against the registry's card and today), lost card,
  then, if the terminal sent a live capture, live face against the chip photo. The first failure
  is the answer; nothing is written by these checks.
- The chip photo is a reference photo: it passes the reference gates (``purpose="reference"``,
  the smaller eye distance). The live capture passes the live gates.
- An unknown ID number and a different name give the same code (``chip_data_mismatch``), so a
  terminal cannot probe the registry; a card other than the one the registry knows (another
  expiry date) is a mismatch too.
- The chip photo, the live capture and the ID number stay in memory and never reach a log.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.face.engine import FaceEngine, MatchResult
from bot.face.errors import FaceError, ImageInvalid, ImageTooLarge, ImageTooManyPixels
from bot.face.images import decode_image
from bot.identity.errors import IdNumberInvalid
from bot.identity.idnumber import parse_id_number
from bot.identity.registry import find_record, name_matches
from bot.terminals.errors import (
    ChipCardExpired,
    ChipCardLost,
    ChipDataMismatch,
    ChipFaceMismatch,
    ChipPhotoInvalid,
)
from storage.models.registry_record import RegistryRecord

log = logging.getLogger(__name__)

# A second-generation card stores a 102x126 photo (a few KiB as JPEG); allow re-encodings
# and a little margin, nothing like a camera photo.
CHIP_PHOTO_MAX_BYTES = 64 * 1024
CHIP_PHOTO_MIN_SIDE = 80
CHIP_PHOTO_MAX_SIDE = 256


class ChipPhotoTooLarge(ChipPhotoInvalid):
    """The chip photo is larger than a chip can hold."""

    code = "chip_photo_too_large"
    status = 413


@dataclass(frozen=True)
class ChipData:
    """What the terminal read from the card's chip, and the optional live capture."""

    name: str
    id_number: str
    expires_on: dt.date
    photo: bytes
    live_face: bytes | None = None


def check_chip_photo(photo: bytes) -> None:
    """Refuse a chip photo that is too large, not an image, or not chip-sized."""
    if len(photo) > CHIP_PHOTO_MAX_BYTES:
        raise ChipPhotoTooLarge(f"A chip photo is at most {CHIP_PHOTO_MAX_BYTES // 1024} KiB.")
    try:
        image = decode_image(photo, max_bytes=CHIP_PHOTO_MAX_BYTES, max_pixels=256 * 256)
    except (ImageTooLarge, ImageTooManyPixels) as exc:
        raise ChipPhotoTooLarge("The chip photo has too many pixels.") from exc
    except ImageInvalid as exc:
        raise ChipPhotoInvalid() from exc
    height, width = image.shape[:2]
    sides = (CHIP_PHOTO_MIN_SIDE, CHIP_PHOTO_MAX_SIDE)
    if not (sides[0] <= width <= sides[1] and sides[0] <= height <= sides[1]):
        raise ChipPhotoInvalid(f"A chip photo is about 102x126 pixels, not {width}x{height}.")


def match_registry(
    session: Session, settings: Settings, chip: ChipData, today: dt.date
) -> RegistryRecord:
    """The registry record the chip belongs to, or the reason the chip is refused."""
    try:
        id_number = parse_id_number(chip.id_number).value
    except IdNumberInvalid as exc:
        raise ChipDataMismatch() from exc
    record = find_record(session, settings, id_number)
    if record is None or not name_matches(settings, record, chip.name):
        raise ChipDataMismatch()
    if chip.expires_on < today:
        raise ChipCardExpired()
    if record.lost_card_expires_on is not None and chip.expires_on == record.lost_card_expires_on:
        raise ChipCardLost()
    if chip.expires_on != record.expires_on:
        raise ChipDataMismatch("This is not the card the registry knows for this person.")
    return record


def match_live_face(
    engine: FaceEngine, chip_photo: bytes, live_face: bytes, relief: float = 0.0
) -> MatchResult:
    """The live capture against the chip photo; raises a face quality error or a mismatch.

    The decision threshold is the pack's minus ``relief``
    (``WANGZHENG_FACE_CHIP_THRESHOLD_RELIEF``):
    a 102x126 reference costs genuine pairs similarity (docs/face.md has the numbers).
    """
    try:
        reference = engine.analyse(chip_photo, purpose="reference")
    except FaceError as exc:
        raise ChipPhotoInvalid(f"The chip photo shows no usable face ({exc.code}).") from exc
    live = engine.analyse(live_face, purpose="selfie")
    measured = engine.match(live.embedding, reference.embedding)
    threshold = measured.threshold - relief
    match = replace(measured, threshold=threshold, decision=measured.similarity >= threshold)
    if not match.decision:
        log.info("terminal live face refused: similarity=%.3f", match.similarity)
        raise ChipFaceMismatch("The face at the terminal does not match the chip photo.")
    return match
