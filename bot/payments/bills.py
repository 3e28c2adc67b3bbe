"""Bills: issued by an agency to an ID number, listed to the citizen that number belongs to.

Invariants:
- The payer's ID number is validated (GB 11643), stored as the registry's keyed lookup hash and
  sealed; the name is sealed. Neither appears in errors or logs.
- Idempotent on ``(agency, agency_ref)``: the same bill again is ``unchanged`` with the same id;
  a different bill under a used reference is :class:`BillReferenceConflict`. Two concurrent
  sends of one bill leave one row (the unique constraint is the last word).
- An agency issues bills only for its own catalogue items; the amount must equal the item's
  fixed amount or lie in its range (integer fen).
- A batch stores every good row and nothing of a bad one: each row runs in its own savepoint.
- A citizen sees exactly the bills whose payer hash matches the registry record of their active
  credential (under the current or a retired hash key); nothing the client sends selects them.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.errors import NoActiveCredential
from bot.credentials.service import active_credential
from bot.crypto import keyed_hash, seal_text, unseal_text
from bot.errors import WangzhengError
from bot.identity.idnumber import parse_id_number
from bot.identity.masking import mask_name
from bot.identity.registry import id_lookup_hash, record_id_number
from bot.payments.agencies import AgencyPrincipal
from bot.payments.errors import (
    AmountOutOfRange,
    BillInvalid,
    BillNotFound,
    BillReferenceConflict,
    ItemUnknown,
)
from bot.vocab import BillStatus, Level
from storage.models.bill import Bill
from storage.models.credential import Credential
from storage.models.payment_item import PaymentItem
from storage.models.registry_record import RegistryRecord

PAYER_ID_PURPOSE = "bill.payer_id_number"
PAYER_NAME_PURPOSE = "bill.payer_name"
MAX_BILLS_LISTED = 200


@dataclass(frozen=True)
class BillRequest:
    """One bill as an agency sends it."""

    item_code: str
    payer_id_number: str
    payer_name: str
    amount_fen: int
    due_on: dt.date
    agency_ref: str


@dataclass(frozen=True)
class BillView:
    """A bill as the citizen and the agency see it (never the ID number)."""

    id: str
    agency_ref: str
    item_code: str
    item_name: str
    agency: str
    city: str
    amount_fen: int
    refunded_fen: int
    due_on: dt.date
    status: BillStatus
    level_required: Level
    payer_name_masked: str
    paid_at: dt.datetime | None


@dataclass(frozen=True)
class Issued:
    """The outcome of one bill: ``created`` or ``unchanged``, and the bill."""

    status: str
    bill: BillView


def bill_view(settings: Settings, bill: Bill, item: PaymentItem) -> BillView:
    """The citizen-facing view of ``bill``."""
    name = unseal_text(settings.data_keyring, bill.payer_name_sealed, PAYER_NAME_PURPOSE)
    return BillView(
        bill.id,
        bill.agency_ref,
        item.code,
        item.name,
        item.agency,
        item.city,
        bill.amount_fen,
        bill.refunded_fen,
        bill.due_on,
        BillStatus(bill.status),
        Level(item.level_required),
        mask_name(name),
        bill.paid_at,
    )


def _check_amount(item: PaymentItem, amount_fen: int) -> None:
    if item.fixed_fen is not None:
        if amount_fen != item.fixed_fen:
            raise AmountOutOfRange(f"This item costs exactly {item.fixed_fen} fen.")
        return
    low, high = item.min_fen or 0, item.max_fen or 0
    if not low <= amount_fen <= high:
        raise AmountOutOfRange(f"This item's amount lies between {low} and {high} fen.")


def _validate(session: Session, agency: AgencyPrincipal, request: BillRequest) -> PaymentItem:
    ref, name = request.agency_ref, request.payer_name.strip()
    if not ref or len(ref) > 64 or not ref.isprintable():
        raise BillInvalid("agency_ref must be 1-64 printable characters.")
    if not name or len(name) > 64 or not name.isprintable():
        raise BillInvalid("payer_name is empty, too long or not printable.")
    item = session.scalars(
        select(PaymentItem).where(
            PaymentItem.code == request.item_code, PaymentItem.agency == agency.name
        )
    ).first()
    if item is None:
        raise ItemUnknown()
    _check_amount(item, request.amount_fen)
    return item


def _digest(settings: Settings, request: BillRequest, number: str) -> str:
    fields = (request.item_code, number, request.payer_name.strip(), request.amount_fen)
    text = "\x1f".join(str(value) for value in (*fields, request.due_on.isoformat()))
    return keyed_hash(settings.hash_key, text, "bill_row")


def issue_bill(
    session: Session, settings: Settings, agency: AgencyPrincipal, request: BillRequest
) -> Issued:
    """Issue one bill in the caller's transaction (inside a savepoint, so a failure leaves
    nothing of it); raises a :class:`WangzhengError` with the row's reason."""
    number = parse_id_number(request.payer_id_number).value  # IdNumberInvalid: its own code
    item = _validate(session, agency, request)
    digest = _digest(settings, request, number)

    def existing() -> Issued | None:
        bill = session.scalars(
            select(Bill).where(Bill.agency_id == agency.id, Bill.agency_ref == request.agency_ref)
        ).first()
        if bill is None:
            return None
        if bill.row_digest != digest:
            raise BillReferenceConflict()
        return Issued("unchanged", bill_view(settings, bill, item))

    found = existing()
    if found is not None:
        return found
    bill = Bill(
        id="bl_" + secrets.token_urlsafe(16),
        agency_id=agency.id,
        agency_ref=request.agency_ref,
        item_id=item.id,
        payer_id_hash=id_lookup_hash(settings.hash_key, number),
        payer_id_sealed=seal_text(settings.data_keyring, number, PAYER_ID_PURPOSE),
        payer_name_sealed=seal_text(
            settings.data_keyring, request.payer_name.strip(), PAYER_NAME_PURPOSE
        ),
        amount_fen=request.amount_fen,
        due_on=request.due_on,
        status=BillStatus.OPEN.value,
        refunded_fen=0,
        row_digest=digest,
    )
    try:
        with session.begin_nested():
            session.add(bill)
    except IntegrityError:
        found = existing()  # a concurrent send of the same reference won the insert
        if found is None:
            raise
        return found
    return Issued("created", bill_view(settings, bill, item))


@dataclass(frozen=True)
class RowResult:
    """One row of a batch: its index, ``created``/``unchanged``/``failed``, and the bill or
    the error."""

    index: int
    status: str
    bill: BillView | None = None
    error: WangzhengError | None = None


def issue_batch(
    session: Session, settings: Settings, agency: AgencyPrincipal, requests: list[BillRequest]
) -> list[RowResult]:
    """Issue each bill in its own savepoint; a failed row is reported and leaves nothing."""
    results: list[RowResult] = []
    seen: set[str] = set()
    for index, request in enumerate(requests):
        try:
            if request.agency_ref in seen:
                raise BillInvalid("agency_ref repeats an earlier row of this batch.")
            seen.add(request.agency_ref)
            with session.begin_nested():
                issued = issue_bill(session, settings, agency, request)
            results.append(RowResult(index, issued.status, issued.bill))
        except WangzhengError as exc:
            results.append(RowResult(index, "failed", error=exc))
    return results


def payer_hashes(session: Session, settings: Settings, credential: Credential) -> list[str]:
    """The lookup hashes (current and retired hash keys) of the credential's registry subject."""
    record = session.get(RegistryRecord, credential.subject_id)
    if record is None:
        return []
    number = record_id_number(settings, record)
    return [id_lookup_hash(key, number) for key in settings.hash_keyring.all]


def citizen_credential(session: Session, openid: str) -> Credential:
    """The citizen's active credential, or :class:`NoActiveCredential`."""
    credential = active_credential(session, openid)
    if credential is None:
        raise NoActiveCredential()
    return credential


def list_citizen_bills(session: Session, settings: Settings, openid: str) -> list[BillView]:
    """The bills addressed to the subject of ``openid``'s active credential, newest first."""
    hashes = payer_hashes(session, settings, citizen_credential(session, openid))
    rows = session.execute(
        select(Bill, PaymentItem)
        .join(PaymentItem, PaymentItem.id == Bill.item_id)
        .where(Bill.payer_id_hash.in_(hashes))
        .order_by(Bill.created_at.desc(), Bill.id)
        .limit(MAX_BILLS_LISTED)
    ).all()
    return [bill_view(settings, bill, item) for bill, item in rows]


def citizen_bill(
    session: Session, settings: Settings, openid: str, bill_id: str
) -> tuple[Bill, PaymentItem, Credential]:
    """The bill ``bill_id`` if it is addressed to this citizen, else :class:`BillNotFound`
    (the same answer for someone else's bill and for no bill)."""
    credential = citizen_credential(session, openid)
    hashes = payer_hashes(session, settings, credential)
    query = (
        select(Bill, PaymentItem)
        .join(PaymentItem, PaymentItem.id == Bill.item_id)
        .where(Bill.id == bill_id, Bill.payer_id_hash.in_(hashes))
    )
    row = session.execute(query).first()
    if row is None:
        raise BillNotFound()
    return row[0], row[1], credential
