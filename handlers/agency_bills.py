"""``/api/v1/agency/bills``: agencies issue bills, one at a time or in batches.

Invariants: the agency key is checked before the body is parsed; a single bill answers 201
(created, or the same bill again with ``outcome: unchanged``) or its own error code; a batch
answers 200 with one result per row, stores every good row and nothing of a bad one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from apiflask import APIBlueprint
from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import clock, database, settings
from bot.payments.bills import BillRequest, issue_batch, issue_bill
from bot.payments.gateway import payment_gateway
from bot.payments.refunds import order_of_bill, request_refund
from handlers.auth import agency_auth, current_agency
from handlers.schemas import BODY_ERRORS, BillOut, DateField, Out, bill_out

agency_bills = APIBlueprint("agency_bills", __name__, tag="Agency", url_prefix="/api/v1/agency")
AGENCY_ERRORS = {401: "agency_key_invalid"}
BILL_ERRORS = {
    400: "id_number_invalid, bill_invalid, or the body is not what the schema says",
    409: "bill_reference_conflict: this agency_ref was used for a different bill",
    422: "item_not_found (not one of your items) or amount_out_of_range",
}
MAX_BATCH = 200  # about 36 KB of JSON, inside the edge's 64 KiB body limit


class BillIn(BaseModel):
    """One bill; ``amount_fen`` is a whole number of fen."""

    model_config = ConfigDict(strict=True, extra="forbid")

    item_code: str = Field(min_length=1, max_length=32)
    payer_id_number: str = Field(min_length=1, max_length=32)
    payer_name: str = Field(min_length=1, max_length=64)
    amount_fen: int = Field(gt=0, le=100_000_000)
    due_on: DateField
    agency_ref: str = Field(min_length=1, max_length=64)

    def request(self) -> BillRequest:
        """The service's input."""
        return BillRequest(
            self.item_code,
            self.payer_id_number,
            self.payer_name,
            self.amount_fen,
            self.due_on,
            self.agency_ref,
        )


class BatchIn(BaseModel):
    """Up to 200 bills (a batch stays under the 64 KiB JSON body limit)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    bills: list[BillIn] = Field(min_length=1, max_length=MAX_BATCH)


class RowErrorOut(Out):
    """Why a row failed: the code a single bill would have answered."""

    code: str
    message: str


class RowOut(Out):
    """One row of a batch: its position, what happened, and the bill or the error."""

    index: int
    status: Literal["created", "unchanged", "failed"]
    bill: BillOut | None = None
    error: RowErrorOut | None = None


class BatchOut(Out):
    """One result per row, in order, and the counts."""

    created: int
    unchanged: int
    failed: int
    results: list[RowOut]


class IssuedOut(Out):
    """The bill, and whether this request created it or found it already issued."""

    outcome: Literal["created", "unchanged"]
    bill: BillOut


@agency_bills.post("/bills")
@agency_bills.auth_required(agency_auth)
@agency_bills.input(BillIn)
@agency_bills.output(IssuedOut, status_code=201, description="Issued (or already issued)")
@agency_bills.doc(summary="Issue a bill", responses={**BODY_ERRORS, **AGENCY_ERRORS, **BILL_ERRORS})
def issue_one(json_data: BillIn) -> dict[str, Any]:
    """Issue one bill to a payer's ID number; idempotent on ``agency_ref``: a repeat answers
    like the first time (201, the same bill) with ``outcome: unchanged``, as an idempotent
    replay should."""
    with database().transaction() as session:
        issued = issue_bill(session, settings(), current_agency(), json_data.request())
    return {"outcome": issued.status, "bill": bill_out(issued.bill)}


@agency_bills.post("/bills/batch")
@agency_bills.auth_required(agency_auth)
@agency_bills.input(BatchIn)
@agency_bills.output(BatchOut)
@agency_bills.doc(summary="Issue bills in a batch", responses={**BODY_ERRORS, **AGENCY_ERRORS})
def issue_many(json_data: BatchIn) -> dict[str, Any] | Response:
    """Issue each bill; bad rows are reported with their code and leave nothing stored."""
    with database().transaction() as session:
        results = issue_batch(
            session, settings(), current_agency(), [bill.request() for bill in json_data.bills]
        )
    rows: list[dict[str, Any]] = []
    for result in results:
        row: dict[str, Any] = {"index": result.index, "status": result.status}
        if result.bill is not None:
            row["bill"] = bill_out(result.bill)
        if result.error is not None:
            row["error"] = {"code": result.error.code, "message": result.error.message}
        rows.append(row)
    return {
        "created": sum(r.status == "created" for r in results),
        "unchanged": sum(r.status == "unchanged" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "results": rows,
    }


class RefundIn(BaseModel):
    """A refund of (part of) a paid bill; ``refund_ref`` is the agency's idempotency key."""

    model_config = ConfigDict(strict=True, extra="forbid")

    amount_fen: int = Field(gt=0, le=100_000_000)
    reason: str = Field(default="", max_length=80)
    refund_ref: str = Field(pattern=r"^[0-9A-Za-z_-]{1,40}$")


class RefundOut(Out):
    """The refund; ``success`` once WeChat Pay confirmed it, else ``processing``."""

    out_refund_no: str
    out_trade_no: str
    amount_fen: int
    status: Literal["processing", "success", "failed"]


@agency_bills.post("/bills/<string:bill_id>/refunds")
@agency_bills.auth_required(agency_auth)
@agency_bills.input(RefundIn)
@agency_bills.output(RefundOut, status_code=201)
@agency_bills.doc(
    summary="Refund a paid bill",
    responses={
        **BODY_ERRORS,
        **AGENCY_ERRORS,
        404: "bill_not_found (not one of your bills), payments_disabled",
        409: "refund_invalid: not paid, more than what is left, or a reused refund_ref",
        502: "payment_provider_error: WeChat Pay refused the refund",
        503: "payment_provider_unavailable (Retry-After); retry with the same refund_ref",
    },
)
def refund_bill(bill_id: str, json_data: RefundIn) -> dict[str, Any]:
    """Refund part or all of a bill this agency issued; idempotent on ``refund_ref``."""
    agency = current_agency()
    gateway = payment_gateway()
    out_trade_no = order_of_bill(database(), bill_id[:64], agency.id)
    refund = request_refund(
        database(),
        gateway,
        out_trade_no=out_trade_no,
        amount_fen=json_data.amount_fen,
        reason=json_data.reason,
        out_refund_no=f"{agency.public_id}-{json_data.refund_ref}",
        now=dt.datetime.fromtimestamp(clock()(), dt.UTC),
    )
    return {
        "out_refund_no": refund.out_refund_no,
        "out_trade_no": refund.out_trade_no,
        "amount_fen": refund.amount_fen,
        "status": refund.status.value,
    }
