"""Persistence: SQL models and sessions, Alembic migrations, and the short-lived state store."""
