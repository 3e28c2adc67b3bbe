"""Merchants: accounts and scopes, the verify API's checks, the audit trail and its history."""
