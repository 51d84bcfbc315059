"""Errors that carry a rule id and a message a merchant can act on."""

from __future__ import annotations


class SmsError(Exception):
    """A refusal with a stable rule id (see DOMAIN.md) and a Chinese message."""

    rule = "SMS-ERROR"

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:
        return self.message


class CategoryRestricted(SmsError):
    rule = "CATEGORY-RESTRICTED"
