"""A text cut into segments at its findings' spans, for templates to mark (merchant editor and
reviewer workbench render them with ``templates/reviews/marked_text.html``)."""

from __future__ import annotations

from dataclasses import dataclass

from reviews.findings import Finding


@dataclass(frozen=True)
class Segment:
    text: str
    severity: str = ""  # "" (no finding), "block" or "warn"
    rules: str = ""  # the rule ids of the findings covering it, space-separated
    title: str = ""  # their messages

    @property
    def marked(self) -> bool:
        return bool(self.severity)


def marked_segments(text: str, findings: list[Finding]) -> list[Segment]:
    """``text`` cut at every finding's start and end; a segment covered by findings carries the
    strictest severity, their rule ids and messages. Empty spans mark nothing."""
    cuts = {0, len(text)}
    for f in findings:
        cuts.update({max(0, min(f.start, len(text))), max(0, min(f.end, len(text)))})
    points = sorted(cuts)
    segments = []
    for start, end in zip(points, points[1:], strict=False):
        covering = [f for f in findings if f.start <= start and end <= f.end and f.start < f.end]
        if not covering:
            segments.append(Segment(text[start:end]))
            continue
        segments.append(Segment(
            text[start:end],
            severity="block" if any(f.severity == "block" for f in covering) else "warn",
            rules=" ".join(sorted({f.rule for f in covering})),
            title="；".join(dict.fromkeys(f.message for f in covering)),
        ))
    return segments
