"""A text cut into segments at its findings' spans, for templates to mark (merchant editor and
reviewer workbench render them with ``templates/reviews/marked_text.html``)."""

from __future__ import annotations

from dataclasses import dataclass

from reviews.findings import Finding
from reviews.policy.variables import TOKEN_RE, VariableSpec, tokens


@dataclass(frozen=True)
class Segment:
    text: str
    severity: str = ""  # "" (no finding), "block" or "warn"
    rules: str = ""  # the rule ids of the findings covering it, space-separated
    title: str = ""  # their messages
    variable: str = ""  # the label of the variable token this segment is (shown as a chip)

    @property
    def marked(self) -> bool:
        return bool(self.severity)


def marked_segments(
    text: str, findings: list[Finding], specs: dict[str, VariableSpec] | None = None
) -> list[Segment]:
    """``text`` cut at every finding's places (``Finding.places``); a segment covered by findings
    carries the strictest severity, their rule ids and messages. Empty spans mark nothing. With
    ``specs``, each known ``${name}`` token is a segment of its own carrying the variable's label,
    so the text reads as the merchant wrote it (chips), never as raw tokens."""
    size = len(text)
    places = [(f, max(0, min(a, size)), max(0, min(b, size))) for f in findings for a, b in f.places]
    cuts = {0, len(text)}
    for _f, a, b in places:
        cuts.update({a, b})
    labels: dict[int, str] = {}
    for token in tokens(text) if specs else []:
        spec = specs.get(token.name)
        if spec is not None:
            cuts.update({token.start, token.end})
            labels[token.start] = spec.label
    points = sorted(cuts)
    segments = []
    for start, end in zip(points, points[1:], strict=False):
        covering = list(dict.fromkeys(f for f, a, b in places if a <= start and end <= b and a < b))
        label = labels.get(start, "") if TOKEN_RE.fullmatch(text[start:end]) else ""
        if not covering:
            segments.append(Segment(text[start:end], variable=label))
            continue
        segments.append(Segment(
            text[start:end],
            severity="block" if any(f.severity == "block" for f in covering) else "warn",
            rules=" ".join(sorted({f.rule for f in covering})),
            title="；".join(dict.fromkeys(f.message for f in covering)),
            variable=label,
        ))
    return segments
