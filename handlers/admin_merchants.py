"""Admin JSON API for merchants (``/admin/api/merchants``), protected by the admin key.

Invariants: every request carries ``Authorization: Bearer <WANGZHENG_ADMIN_KEY>``, compared in
constant time; an empty configured key refuses everything. API keys appear only in the one
response that creates or rotates them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import database, settings, store
from bot.merchants.accounts import (
    create_merchant,
    get_merchant,
    list_merchants,
    rotate_key,
    set_enabled,
)
from bot.merchants.counter import set_capabilities
from bot.vocab import Scope
from handlers.auth import admin_auth
from handlers.schemas import (
    BODY_ERRORS,
    CapabilityField,
    CategoryField,
    Out,
    ScopeField,
    Timestamp,
)

admin_merchants = APIBlueprint(
    "admin_merchants", __name__, tag="Admin", url_prefix="/admin/api/merchants"
)


def _default_scopes() -> list[Scope]:
    return [Scope.RESULT]


class MerchantIn(BaseModel):
    """A new merchant."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    category: CategoryField
    scopes: list[ScopeField] = Field(default_factory=_default_scopes, max_length=4)


class MerchantOut(Out):
    """A merchant as the admin sees it (never its key or key hash)."""

    public_id: str
    name: str
    category: CategoryField
    scopes: list[ScopeField]
    enabled: bool
    key_hint: str = Field(description="the first characters of the key, to tell keys apart")
    created_at: Timestamp
    capabilities: list[CapabilityField] = Field(
        description="what it may do beyond disclosure: face = send the live face at the counter"
    )


class CapabilitiesIn(BaseModel):
    """The merchant's capabilities, replacing the current ones (empty: none)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    capabilities: list[CapabilityField] = Field(max_length=4)


class OneMerchantOut(Out):
    """One merchant."""

    merchant: MerchantOut


class MerchantsOut(Out):
    """Every merchant, oldest first."""

    merchants: list[MerchantOut]


class IssuedKeyOut(Out):
    """A merchant and its new API key: the only time the key is ever shown."""

    merchant: MerchantOut
    api_key: str = Field(pattern=r"^wzm_")


ADMIN_ERRORS = {401: "admin_key_invalid"}
MERCHANT_ERRORS = {**ADMIN_ERRORS, 404: "merchant_not_found"}


@admin_merchants.before_request
@admin_merchants.auth_required(admin_auth)
def _require_admin() -> None:
    """Every admin request is authenticated (401 ``admin_key_invalid`` otherwise)."""


@admin_merchants.get("")
@admin_merchants.output(MerchantsOut)
@admin_merchants.doc(summary="List merchants", responses=ADMIN_ERRORS)
def list_all() -> dict[str, Any]:
    """Every merchant (never keys)."""
    with database().transaction() as session:
        return {"merchants": [asdict(view) for view in list_merchants(session)]}


@admin_merchants.post("")
@admin_merchants.input(MerchantIn, arg_name="body")
@admin_merchants.output(IssuedKeyOut, status_code=201)
@admin_merchants.doc(
    summary="Create a merchant; the key is shown once",
    responses={
        **BODY_ERRORS,
        400: "validation_error, scope_invalid, category_invalid or name_invalid",
        **ADMIN_ERRORS,
    },
)
def create(body: MerchantIn) -> tuple[dict[str, Any], int]:
    """201 with the merchant and its API key."""
    with database().transaction() as session:
        issued = create_merchant(
            session, settings(), name=body.name, category=body.category, scopes=list(body.scopes)
        )
    return {"merchant": asdict(issued.merchant), "api_key": issued.api_key}, 201


@admin_merchants.get("/<public_id>")
@admin_merchants.output(OneMerchantOut)
@admin_merchants.doc(summary="One merchant", responses=MERCHANT_ERRORS)
def show(public_id: str) -> dict[str, Any]:
    """The merchant, or 404 ``merchant_not_found``."""
    with database().transaction() as session:
        return {"merchant": asdict(get_merchant(session, public_id))}


@admin_merchants.post("/<public_id>/rotate-key")
@admin_merchants.output(IssuedKeyOut)
@admin_merchants.doc(
    summary="Rotate the API key; the old key stops at once", responses=MERCHANT_ERRORS
)
def rotate(public_id: str) -> dict[str, Any]:
    """The merchant and its new key."""
    with database().transaction() as session:
        issued = rotate_key(session, settings(), store(), public_id)
    return {"merchant": asdict(issued.merchant), "api_key": issued.api_key}


@admin_merchants.post("/<public_id>/disable")
@admin_merchants.output(OneMerchantOut)
@admin_merchants.doc(summary="Disable a merchant (its key gets 401)", responses=MERCHANT_ERRORS)
def disable(public_id: str) -> dict[str, Any]:
    """The disabled merchant."""
    with database().transaction() as session:
        view = set_enabled(session, store(), public_id, False)
    return {"merchant": asdict(view)}


@admin_merchants.post("/<public_id>/enable")
@admin_merchants.output(OneMerchantOut)
@admin_merchants.doc(summary="Re-enable a merchant", responses=MERCHANT_ERRORS)
def enable(public_id: str) -> dict[str, Any]:
    """The enabled merchant."""
    with database().transaction() as session:
        view = set_enabled(session, store(), public_id, True)
    return {"merchant": asdict(view)}


@admin_merchants.put("/<public_id>/capabilities")
@admin_merchants.input(CapabilitiesIn, arg_name="body")
@admin_merchants.output(OneMerchantOut)
@admin_merchants.doc(
    summary="Set what a merchant may do beyond disclosure (face: the counter check 刷證+刷臉)",
    responses={**BODY_ERRORS, 400: "validation_error", **MERCHANT_ERRORS},
)
def capabilities(public_id: str, body: CapabilitiesIn) -> dict[str, Any]:
    """The merchant with its new capabilities (``flask merchants capabilities`` does the same)."""
    with database().transaction() as session:
        set_capabilities(session, public_id, ",".join(body.capabilities))
        return {"merchant": asdict(get_merchant(session, public_id))}
