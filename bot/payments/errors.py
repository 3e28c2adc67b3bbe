"""Errors of the payments domain; each code is API and never changes meaning."""

from __future__ import annotations

from bot.errors import Conflict, NotFound, ServiceUnavailable, Unauthenticated, WangzhengError


class AgencyKeyInvalid(Unauthenticated):
    """The agency API key is missing, unknown or disabled."""

    code = "agency_key_invalid"


class ItemUnknown(WangzhengError):
    """No catalogue item of yours has this code."""

    code = "item_not_found"
    status = 422


class AmountOutOfRange(WangzhengError):
    """The amount is not the item's fixed amount or lies outside its range."""

    code = "amount_out_of_range"
    status = 422


class BillInvalid(WangzhengError):
    """A bill field is malformed (name, due date, reference)."""

    code = "bill_invalid"
    status = 400


class BillReferenceConflict(Conflict):
    """Your reference was already used for a different bill."""

    code = "bill_reference_conflict"


class BillNotFound(NotFound):
    """No bill of yours has this id."""

    code = "bill_not_found"


class BillAlreadyPaid(Conflict):
    """The bill is already paid."""

    code = "bill_already_paid"


class PaymentInProgress(Conflict):
    """A payment of this bill is being started right now; try again in a moment."""

    code = "payment_in_progress"


class LevelTooLow(WangzhengError):
    """Paying this bill needs an upgraded credential."""

    code = "credential_level_too_low"
    status = 403


class PaymentsDisabled(NotFound):
    """Payments are not enabled on this deployment."""

    code = "payments_disabled"


class ReceiptUnavailable(Conflict):
    """The bill has no receipt: it is not paid."""

    code = "receipt_unavailable"


class OrderNotFound(NotFound):
    """No payment order has this number."""

    code = "order_not_found"


class RefundInvalid(Conflict):
    """The refund exceeds what was paid and not yet refunded, or the order is not paid."""

    code = "refund_invalid"


class PaymentProviderError(WangzhengError):
    """The payment provider refused the call."""

    code = "payment_provider_error"
    status = 502


class PaymentProviderUnavailable(ServiceUnavailable):
    """The payment provider did not answer; try again."""

    code = "payment_provider_unavailable"


class CallbackRejected(WangzhengError):
    """A payment notification failed verification; ``code`` says which check."""

    code = "callback_rejected"
    status = 401
