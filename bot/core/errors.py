"""Errors a user can cause: shown to them as-is, never as a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a forbidden action; `message` says what, `usage` the correct form.

    The message is plain text (Block Kit escapes it when it is shown).
    """

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage

    def with_usage(self, usage: str) -> UserError:
        return self if self.usage else UserError(self.message, usage)


class NotFound(UserError):
    """An id or key that does not exist in this workspace."""


class Forbidden(UserError):
    """The caller may not change this (not its owner nor an admin)."""


class FieldError(UserError):
    """Bad input in one field of a form: shown next to that field in the modal."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
