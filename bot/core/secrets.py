"""Secrets at rest and in text: Slack tokens encrypted with Fernet, and redaction of
anything that looks like a credential before it reaches a log line or an error.

Keys: `OKRBOT_SECRET_KEY` holds one Fernet key, or several separated by commas, newest
first. New values are encrypted with the first; any of them decrypts (MultiFernet), so
a key is rotated by putting the new one in front, restarting, and re-encrypting
(`okrbot secrets rotate`) before the old one is dropped.
"""

from __future__ import annotations

import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENCRYPTED_PREFIX = "fernet:"


class SecretKeyError(ValueError):
    """OKRBOT_SECRET_KEY is not a comma-separated list of Fernet keys."""


def parse_keys(text: str) -> list[Fernet]:
    keys = [part.strip() for part in text.split(",") if part.strip()]
    if not keys:
        raise SecretKeyError("is empty")
    fernets = []
    for index, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"key {index} is not a Fernet key (32 url-safe base64-encoded bytes); make one "
                "with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
    return fernets


class TokenCipher:
    """Encrypts stored Slack tokens; reads values written before a key was set as they are."""

    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet(parse_keys(keys))

    def encrypt(self, value: str | None) -> str | None:
        if value is None or value.startswith(ENCRYPTED_PREFIX):
            return value
        return ENCRYPTED_PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str | None) -> str | None:
        if value is None or not value.startswith(ENCRYPTED_PREFIX):
            return value  # stored before encryption was turned on
        try:
            token = self._fernet.decrypt(value.removeprefix(ENCRYPTED_PREFIX).encode())
        except InvalidToken:
            raise SecretKeyError(
                "a stored Slack token does not decrypt with any OKRBOT_SECRET_KEY key "
                "(was the key that encrypted it removed?)"
            ) from None
        return token.decode()

    def rotate(self, value: str | None) -> str | None:
        """The value encrypted with the newest key (plain values get encrypted)."""
        if value is None or not value.startswith(ENCRYPTED_PREFIX):
            return self.encrypt(value)
        rotated = self._fernet.rotate(value.removeprefix(ENCRYPTED_PREFIX).encode())
        return ENCRYPTED_PREFIX + rotated.decode()


# Redaction --------------------------------------------------------------------------------

REDACTED = "[redacted]"
_SECRETS = [
    # Slack tokens (bot, user, app, refresh, config) and okrbot API tokens.
    re.compile(r"\bxox[a-z]-[A-Za-z0-9-]{6,}"),
    re.compile(r"\bxox[a-z]\.[A-Za-z0-9.-]{6,}"),
    re.compile(r"\bxapp-[A-Za-z0-9-]{6,}"),
    re.compile(r"\bokr_[A-Za-z0-9_-]{6,}"),
    re.compile(r"\bfernet:[A-Za-z0-9_=-]{10,}"),
    # Bearer credentials, whatever their shape.
    re.compile(r"(?i)(?<=bearer )[^\s'\"]{4,}"),
    # Request signatures.
    re.compile(r"\bv0=[0-9a-f]{64}"),
]
# `scheme://user:password@host`: the password goes.
# The look-behind starts a match only where a scheme starts, which keeps this linear.
_URL_PASSWORD = re.compile(
    r"(?<![a-z0-9+.-])(?P<head>[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)[^\s@/'\"]+(?=@)", re.I
)


def redact(text: str) -> str:
    """`text` with credentials replaced: Slack and API tokens, bearer values, request
    signatures and passwords in URLs (linear-time patterns, safe on any input)."""
    for pattern in _SECRETS:
        text = pattern.sub(REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
