"""``check_content``: every TPL-* rule over a template or a free text."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from reviews.choices import ContentKind, ContentUse, MessageClass
from reviews.findings import Finding, blocks
from reviews.policy import rules
from reviews.policy.length import count_parts
from reviews.policy.patterns import CompiledPattern, published_patterns, with_pattern_findings
from reviews.policy.variables import VariableSpec, variable_specs
from reviews.policy.wordlists import CompiledList, published_lists

# Template uses a template may have; with no explicit use, a template may hold any of their variables.
TEMPLATE_USES = (ContentUse.COUPON, ContentUse.REPURCHASE)


@dataclass(frozen=True)
class ContentPolicy:
    """The data ``check_content`` reads besides the text: active variables, published word lists.
    Load it once (``content_policy()``) to check many texts against the same policy."""

    specs: dict[str, VariableSpec]
    wordlists: list[CompiledList]
    patterns: list[CompiledPattern] = field(default_factory=list)  # published pattern rules


def content_policy() -> ContentPolicy:
    """Today's content policy (two queries; compiled word lists are cached per version)."""
    return ContentPolicy(specs=variable_specs(), wordlists=published_lists(), patterns=published_patterns())


@dataclass
class CheckResult:
    """What a check found, with the message's length and parts (None for a signature)."""

    findings: list[Finding] = field(default_factory=list)
    length: int | None = None  # full message as received, variables at their longest
    parts: int | None = None

    @property
    def ok(self) -> bool:
        """False exactly when a finding of severity block exists."""
        return not blocks(self.findings)

    def as_dict(self, *, text: str | None = None) -> dict:
        data = {
            "ok": self.ok,
            "findings": [f.as_dict() for f in self.findings],
            "length": self.length,
            "parts": self.parts,
        }
        return {"text": text, **data} if text is not None else data


def check_content(
    *,
    kind: str,
    text: str,
    signature: str | None = None,
    message_class: str = MessageClass.MARKETING,
    allowed_variables: set[str] | None = None,
    use: str | None = None,
    policy: ContentPolicy | None = None,
) -> CheckResult:
    """Run every TPL-* rule over ``text`` (kind ``template`` or ``text``).

    ``signature`` is the shop's signature used for length and parts (and to
    spot it typed into the body); with none, the maximum of 9 characters is
    assumed. ``allowed_variables`` defaults to the variables of ``use``, or,
    without a use, of any template use (kind template) or of SMS marketing
    (kind text). ``policy`` defaults to today's (``content_policy()``). Findings are ordered
    by position.
    """
    if kind not in (ContentKind.TEMPLATE, ContentKind.TEXT):
        raise ValueError(f"check_content handles kinds 'template' and 'text', not {kind!r}")
    if message_class not in MessageClass.values:
        raise ValueError(f"unknown message class {message_class!r}")
    policy = policy or content_policy()
    specs = policy.specs
    if allowed_variables is None:
        if use:
            uses = {use}
        else:
            uses = {*TEMPLATE_USES} if kind == ContentKind.TEMPLATE else {ContentUse.MARKETING}
        allowed_variables = {name for name, spec in specs.items() if spec.uses & uses}
    subject = rules.Subject(
        text=text, signature=signature or None, message_class=message_class, specs=specs,
        allowed=set(allowed_variables), use_label=_use_label(kind, use), wordlists=policy.wordlists,
    )
    findings = check_subject(subject)
    findings = with_pattern_findings(
        findings, text=text, patterns=policy.patterns, masked=subject.token_spans
    )
    total, _prefix, _suffix = rules.message_length(subject)
    return CheckResult(findings=findings, length=total, parts=count_parts(total))


def check_subject(subject: rules.Subject) -> list[Finding]:
    link_spans = rules.link_spans(subject)
    phone_spans = rules.phone_spans(subject)
    placeholder_spans = rules.placeholder_spans(subject)
    suffix_spans = [span for span, _what in rules.suffix_spans(subject)]
    findings: list[Finding] = []
    findings += rules.rule_incomplete(subject)
    findings += rules.rule_variable(subject)
    findings += rules.rule_symbol(
        subject, masked=subject.token_spans + placeholder_spans + suffix_spans + link_spans
    )
    findings += rules.rule_punct(
        subject, masked=subject.token_spans + placeholder_spans + link_spans + phone_spans
    )
    findings += rules.rule_wordlists(subject)
    findings += rules.rule_offsite_numbers(subject)
    findings += rules.rule_link(subject)
    findings += rules.rule_suffix(subject)
    findings += rules.rule_length(subject)
    return sorted(findings, key=lambda f: (f.start, f.end, f.rule))


def _use_label(kind: str, use: str | None) -> str:
    if use in ContentUse.values:
        return _("“%(use)s”") % {"use": ContentUse(use).label}
    return _("短信营销正文") if kind == ContentKind.TEXT else _("短信模板")
