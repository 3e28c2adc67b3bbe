"""Errors of the merchants domain."""

from __future__ import annotations

from bot.errors import NotFound, RateLimited, Unauthenticated, ValidationFailed


class MerchantKeyInvalid(Unauthenticated):
    """The merchant API key is missing, unknown or disabled."""

    code = "merchant_key_invalid"


class AdminKeyInvalid(Unauthenticated):
    """The admin key is missing or wrong."""

    code = "admin_key_invalid"


class ScopeInvalid(ValidationFailed):
    """Unknown scope, or a scope this merchant category may not hold."""

    code = "scope_invalid"


class CategoryInvalid(ValidationFailed):
    """Unknown merchant category."""

    code = "category_invalid"


class MerchantNotFound(NotFound):
    """No merchant has this id."""

    code = "merchant_not_found"


class MerchantRateLimited(RateLimited):
    """Too many verifications with this key this minute; retry later."""

    code = "rate_limited"
