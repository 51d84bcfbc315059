"""Render a text with its findings' spans highlighted (merchant editor and reviewer workbench)."""

from __future__ import annotations

from django.utils.html import escape, format_html_join
from django.utils.safestring import SafeString, mark_safe

from reviews.findings import Finding


def highlight(text: str, findings: list[Finding]) -> SafeString:
    """HTML of ``text`` with every finding span in ``<mark class="finding …">`` (escaped, safe).

    Overlapping spans are cut into segments; a segment's title lists the
    messages of every finding covering it. Empty spans are shown as a marker.
    """
    cuts = {0, len(text)}
    for f in findings:
        cuts.update({max(0, min(f.start, len(text))), max(0, min(f.end, len(text)))})
    points = sorted(cuts)
    parts: list[str] = []
    for start, end in zip(points, points[1:], strict=False):
        segment = text[start:end]
        covering = [f for f in findings if f.start <= start and end <= f.end and f.start < f.end]
        if not covering:
            parts.append(escape(segment))
            continue
        severity = "block" if any(f.severity == "block" for f in covering) else "warn"
        rules = " ".join(sorted({f.rule for f in covering}))
        title = "；".join(dict.fromkeys(f.message for f in covering))
        parts.append(
            f'<mark class="finding finding-{severity}" data-rules="{escape(rules)}" '
            f'title="{escape(title)}">{escape(segment)}</mark>'
        )
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped


def findings_list(findings: list[Finding]) -> SafeString:
    """A compact HTML list of findings (rule, message, hint)."""
    return format_html_join(
        "", '<li class="finding-{}"><code>{}</code> {} <span class="muted">{}</span></li>',
        ((f.severity, f.rule, f.message, f.hint) for f in findings),
    )
