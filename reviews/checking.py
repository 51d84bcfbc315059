"""One entry point for checking a text of any kind (the ``check_content`` command).

``check_text(kind=..., text=..., signature=...)`` runs the signature rules or the content rules.
A signature's result has no length or parts.
"""

from __future__ import annotations

from reviews.choices import ContentKind
from reviews.policy.checker import CheckResult, ContentPolicy, check_content
from reviews.signature_rules import signature_findings

KINDS = tuple(ContentKind.values)


class UnknownKind(ValueError):
    """The kind has no checker (a usage error for ``check_content``)."""


def check_text(
    *, kind: str, text: str, signature: str | None = None, policy: ContentPolicy | None = None
) -> CheckResult:
    """Check ``text`` as a ``kind`` (signature, template, text); ``policy`` (templates and texts)
    is today's content policy when not given (load it once to check many texts)."""
    if kind == ContentKind.SIGNATURE:
        # Compared with every shop's pending and live signatures (no submitting shop).
        return CheckResult(findings=signature_findings(text))
    if kind in (ContentKind.TEMPLATE, ContentKind.TEXT):
        return check_content(kind=kind, text=text, signature=signature, policy=policy)
    raise UnknownKind(f"no checker for kind {kind!r} (known: {', '.join(KINDS)})")
