"""Devices and mini-program sessions: which phone a citizen uses, and our tokens for it."""
