"""Reading the authority registry: lookup by ID number, name check, reference embeddings.

Invariants:
- Lookup is by keyed hash only (:func:`id_lookup_hash`); the plain ID number never reaches SQL.
- Name comparison is constant time over the NFKC-normalised names.
- Embeddings are L2-normalised float32 vectors, one per (record, pack); :func:`store_embedding`
  replaces the pack's previous vector for the record.
- Every function works inside the caller's transaction.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import keyed_hash, same, unseal, unseal_text
from bot.face.errors import FaceMultiple
from bot.face.images import decode_image
from bot.face.service import get_engine, limits_from_settings
from storage.models.reference_embedding import ReferenceEmbedding
from storage.models.registry_record import RegistryRecord

ID_PURPOSE = "id_number"
ID_SEAL_PURPOSE = "registry.id_number"
NAME_SEAL_PURPOSE = "registry.name"
PHOTO_SEAL_PURPOSE = "registry.photo"

Vector = NDArray[np.float32]


@dataclass(frozen=True)
class Embedder:
    """A face model pack's reference embedder: ``embed(photo bytes) -> unit float32 vector``.

    ``embed`` raises a :class:`~bot.errors.WangzhengError` (``face_not_found``,
    ``face_multiple`` ...) when the photo cannot serve as a reference.
    """

    pack_id: str
    embed: Callable[[bytes], Vector]


def engine_embedder(settings: Settings) -> Embedder:
    """The active face engine as an :class:`Embedder` (the one place the registry calls it).

    A registry photo must show one person: besides the engine's reference gates, a second face
    at least half as wide as the largest one is refused with ``face_multiple``.
    """
    engine = get_engine(settings)
    limits = limits_from_settings(settings)

    def embed(photo: bytes) -> Vector:
        image = decode_image(photo, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
        detections = engine.detect(image)  # once: the gate below and the analysis share it
        widths = sorted((float(box[2] - box[0]) for box in detections[0]), reverse=True)
        if len(widths) > 1 and widths[1] >= widths[0] / 2:
            raise FaceMultiple("The reference photo shows more than one face.")
        sample = engine.analyse_array(image, purpose="reference", detections=detections)
        return np.asarray(sample.embedding, dtype=np.float32)

    return Embedder(pack_id=str(engine.pack_id), embed=embed)


def id_lookup_hash(hash_key: bytes, id_number: str) -> str:
    """The registry's lookup key for a (validated, upper-case) ID number."""
    return keyed_hash(hash_key, id_number, ID_PURPOSE)


def find_record(session: Session, settings: Settings, id_number: str) -> RegistryRecord | None:
    """The record for ``id_number`` (already validated by ``parse_id_number``), or None."""
    number = id_number.strip().upper()
    # During a hash-key rotation a record may still be under a retired key: try each, current first.
    digests = [id_lookup_hash(key, number) for key in settings.hash_keyring.all]
    records = session.scalars(
        select(RegistryRecord).where(RegistryRecord.id_hash.in_(digests))
    ).all()
    return min(records, key=lambda record: digests.index(record.id_hash), default=None)


def find_records(
    session: Session, settings: Settings, id_numbers: Iterable[str]
) -> dict[str, RegistryRecord]:
    """:func:`find_record` for many ID numbers in one query: number -> record, for those found
    (the current hash key wins over a retired one, as there)."""
    keys = settings.hash_keyring.all
    owners: dict[str, tuple[str, int]] = {}  # digest -> (number, key rank)
    for number in {n.strip().upper() for n in id_numbers}:
        for rank, key in enumerate(keys):
            owners[id_lookup_hash(key, number)] = (number, rank)
    if not owners:
        return {}
    found: dict[str, tuple[int, RegistryRecord]] = {}
    query = select(RegistryRecord).where(RegistryRecord.id_hash.in_(list(owners)))
    for record in session.scalars(query):
        number, rank = owners[record.id_hash]
        if number not in found or rank < found[number][0]:
            found[number] = (rank, record)
    return {number: record for number, (_, record) in found.items()}


def normalise_name(name: str) -> str:
    """NFKC, without surrounding or inner whitespace (names are compared, never displayed so)."""
    return "".join(unicodedata.normalize("NFKC", name).split())


class SealedIdentity(Protocol):
    """What :func:`record_name` and :func:`record_id_number` read: a registry record, or the
    columns of one read without the ORM (the verify hot path)."""

    @property
    def name_sealed(self) -> bytes: ...

    @property
    def id_number_sealed(self) -> bytes: ...


def record_name(settings: Settings, record: SealedIdentity) -> str:
    """The record's name in clear (for masking or a ``full_identity`` disclosure)."""
    return unseal_text(settings.data_keyring, record.name_sealed, NAME_SEAL_PURPOSE)


def record_id_number(settings: Settings, record: SealedIdentity) -> str:
    """The record's ID number in clear (only for a ``full_identity`` disclosure)."""
    return unseal_text(settings.data_keyring, record.id_number_sealed, ID_SEAL_PURPOSE)


def record_photo(settings: Settings, record: RegistryRecord) -> bytes:
    """The reference photo bytes (for re-embedding)."""
    return unseal(settings.data_keyring, record.photo_sealed, PHOTO_SEAL_PURPOSE)


def name_matches(settings: Settings, record: RegistryRecord, name: str) -> bool:
    """True when ``name`` is the record's name (constant-time, normalised)."""
    return same(normalise_name(record_name(settings, record)), normalise_name(name))


def vector_to_bytes(vector: Vector) -> bytes:
    """Little-endian float32 bytes of a vector."""
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(raw: bytes) -> Vector:
    """The inverse of :func:`vector_to_bytes`."""
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def reference_embedding(session: Session, record_id: int, pack_id: str) -> Vector | None:
    """The record's reference embedding for ``pack_id``, or None when not computed."""
    row = session.scalars(
        select(ReferenceEmbedding).where(
            ReferenceEmbedding.record_id == record_id, ReferenceEmbedding.pack_id == pack_id
        )
    ).one_or_none()
    return None if row is None else vector_from_bytes(row.vector)


def store_embedding(
    session: Session, record_id: int, pack_id: str, vector: Vector, *, new_record: bool = False
) -> None:
    """Insert or replace the record's embedding for ``pack_id`` (``new_record``: the record was
    created in this transaction, so it has none yet and no query is needed)."""
    norm = float(np.linalg.norm(vector))
    unit = vector / norm if norm > 0 else vector
    raw = vector_to_bytes(unit)
    row = None
    if not new_record:
        row = session.scalars(
            select(ReferenceEmbedding).where(
                ReferenceEmbedding.record_id == record_id, ReferenceEmbedding.pack_id == pack_id
            )
        ).one_or_none()
    if row is None:
        session.add(
            ReferenceEmbedding(
                record_id=record_id, pack_id=pack_id, dimensions=int(unit.size), vector=raw
            )
        )
    else:
        row.vector, row.dimensions = raw, int(unit.size)
