"""Errors of the devices domain."""

from __future__ import annotations

from bot.errors import Unauthenticated


class SessionInvalid(Unauthenticated):
    """The access token is unknown, expired or revoked."""

    code = "session_invalid"


class TokenReplayed(Unauthenticated):
    """A refresh token was used twice; the whole session family is now revoked."""

    code = "token_replayed"
