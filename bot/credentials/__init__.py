"""Credentials: issuance and revocation, signing keys, presentation tokens and the JWKS."""
