"""One entry point for checking a text of any kind (used by ``check_content``).

``check_text(kind=..., text=..., signature=...)`` dispatches to the checker
registered for the kind. Signature kind: length and parts are ``None``.
Other issues register their kinds with ``@register_checker("template")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reviews.findings import Finding, blocks

KINDS = ("signature", "template", "text")


@dataclass(frozen=True)
class CheckResult:
    text: str
    findings: list[Finding] = field(default_factory=list)
    length: int | None = None
    parts: int | None = None

    @property
    def ok(self) -> bool:
        """False exactly when a finding of severity "block" exists."""
        return not blocks(self.findings)

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "ok": self.ok,
            "findings": [
                {k: f.as_dict()[k] for k in ("rule", "start", "end", "severity", "message", "hint")}
                for f in self.findings
            ],
            "length": self.length,
            "parts": self.parts,
        }


class UnknownKind(ValueError):
    """The kind has no checker (a usage error for ``check_content``)."""


Checker = Callable[[str, "str | None"], CheckResult]
CHECKERS: dict[str, Checker] = {}


def register_checker(kind: str) -> Callable[[Checker], Checker]:
    def decorator(func: Checker) -> Checker:
        CHECKERS[kind] = func
        return func

    return decorator


@register_checker("signature")
def _check_signature(text: str, signature: str | None) -> CheckResult:
    from reviews.signature_rules import signature_findings

    # Compared with every shop's pending and live signatures (no submitting shop).
    return CheckResult(text=text, findings=signature_findings(text), length=None, parts=None)


def check_text(*, kind: str, text: str, signature: str | None = None) -> CheckResult:
    """Check ``text`` as a ``kind`` (signature, template, text)."""
    checker = CHECKERS.get(kind)
    if checker is None:
        raise UnknownKind(f"no checker for kind {kind!r} (known: {', '.join(sorted(CHECKERS))})")
    return checker(text, signature)


def _check_content_kind(kind: str, text: str, signature: str | None) -> CheckResult:
    # The content policy (issue 5): every TPL-* rule; length and parts of the full message.
    from reviews.policy import check_content

    result = check_content(kind=kind, text=text, signature=signature)
    return CheckResult(text=text, findings=result.findings, length=result.length, parts=result.parts)


@register_checker("template")
def _check_template(text: str, signature: str | None) -> CheckResult:
    return _check_content_kind("template", text, signature)


@register_checker("text")
def _check_free_text(text: str, signature: str | None) -> CheckResult:
    return _check_content_kind("text", text, signature)
