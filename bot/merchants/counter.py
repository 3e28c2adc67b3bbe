"""The counter check (刷證 + 刷臉): a presentation plus a live photo of the person at the counter.

Invariants:
- Only a merchant granted the ``face`` capability may send one (:func:`require_face_capability`,
  one query, on this operation only; the plain verify path never reads capabilities).
- The live photo is analysed *before* the verify transaction (the model never runs while the
  audit chain's head is locked) with the same engine and the live gates as a selfie; it lives
  in memory only and is never stored or logged.
- The verdict is part of the verification (:func:`bot.merchants.verify.verify_presentation`
  with ``face=``): ``valid`` only when the token and the face both pass; otherwise ``invalid``
  with ``face_mismatch`` or the photo's quality code. The token's own reasons come first. The
  audit row records that the face was checked and how (``face_match`` among the disclosed
  fields, or the reason).
- The reference is the credential holder's registry photo (its embedding for the active pack,
  computed once from the sealed photo when the pack changed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import Forbidden
from bot.face.engine import Embedding, FaceEngine
from bot.face.errors import FaceError
from bot.identity.registry import record_photo, reference_embedding, store_embedding
from bot.merchants.errors import MerchantNotFound, ScopeInvalid
from bot.merchants.judgement import FaceCheck
from bot.vocab import Capability, VerifyReason
from storage.models.merchant import Merchant
from storage.models.registry_record import RegistryRecord

log = logging.getLogger(__name__)


class CapabilityNotGranted(Forbidden):
    """This merchant may not send a live face with a token (the ``face`` capability)."""

    code = "capability_not_granted"


@dataclass(frozen=True)
class CounterFace:
    """The analysed counter photo: its embedding, or the quality code that refused it."""

    embedding: Embedding | None
    refusal: VerifyReason | None = None


def parse_capabilities(listed: str) -> tuple[Capability, ...]:
    """Validated, ordered capabilities from a comma list."""
    wanted = {item.strip() for item in listed.split(",") if item.strip()}
    unknown = wanted - {capability.value for capability in Capability}
    if unknown:
        raise ScopeInvalid(
            f"Capabilities must be among {', '.join(Capability)}.", code="capability_invalid"
        )
    return tuple(capability for capability in Capability if capability in wanted)


def set_capabilities(session: Session, public_id: str, listed: str) -> tuple[Capability, ...]:
    """Replace a merchant's capabilities (``flask merchants capabilities``)."""
    granted = parse_capabilities(listed)
    row = session.scalars(select(Merchant).where(Merchant.public_id == public_id)).one_or_none()
    if row is None:
        raise MerchantNotFound()
    row.capabilities = ",".join(granted)
    return granted


def require_face_capability(session: Session, merchant_id: int) -> None:
    """Raise :class:`CapabilityNotGranted` unless the merchant holds ``face``."""
    listed = session.scalar(select(Merchant.capabilities).where(Merchant.id == merchant_id)) or ""
    if Capability.FACE not in listed.split(","):
        raise CapabilityNotGranted()


def analyse_counter_face(engine: FaceEngine, photo: bytes) -> CounterFace:
    """Gate and embed the counter photo; a gate failure becomes its verify reason."""
    try:
        sample = engine.analyse(photo, purpose="selfie")
    except FaceError as refused:
        if refused.code in {reason.value for reason in VerifyReason}:
            return CounterFace(None, VerifyReason(refused.code))
        raise
    return CounterFace(sample.embedding)


def face_check(settings: Settings, engine: FaceEngine, counter: CounterFace) -> FaceCheck:
    """The ``face=`` judge of :func:`verify_presentation` for this counter photo."""

    def judge(session: Session, subject_id: int) -> VerifyReason | None:
        if counter.embedding is None:
            return counter.refusal or VerifyReason.FACE_NOT_FOUND
        reference = reference_embedding(session, subject_id, engine.pack_id)
        if reference is None:
            record = session.get(RegistryRecord, subject_id)
            if record is None:
                return VerifyReason.FACE_MISMATCH
            reference = engine.analyse(
                record_photo(settings, record), purpose="reference"
            ).embedding
            store_embedding(session, subject_id, engine.pack_id, reference)
        match = engine.match(counter.embedding, reference)
        log.info("counter face check: match=%s similarity=%.3f", match.decision, match.similarity)
        return None if match.decision else VerifyReason.FACE_MISMATCH

    return judge
