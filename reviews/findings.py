"""The common shape of an automatic rule finding (signature and content rules).

Every finding names its rule id (DOMAIN.md), the span [start, end) in the
checked text, a severity, a Chinese message and a hint for the fix. A finding that groups
several places of one kind (TPL-PUNCT: every half-width mark of a text) lists them in ``spans``;
[start, end) then covers them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["block", "warn"]


@dataclass(frozen=True)
class Finding:
    rule: str
    start: int
    end: int
    severity: Severity
    message: str
    hint: str
    list_version: int | None = None  # version of the word list that produced it, if any
    spans: tuple[tuple[int, int], ...] = ()  # the places of a grouped finding, in order

    @property
    def places(self) -> tuple[tuple[int, int], ...]:
        """The spans a highlight marks: ``spans`` of a grouped finding, else (start, end)."""
        return self.spans or ((self.start, self.end),)

    def as_dict(self) -> dict:
        data = asdict(self)
        if data["list_version"] is None:
            data.pop("list_version")
        if data["spans"]:
            data["spans"] = [list(span) for span in self.spans]
        else:
            data.pop("spans")
        return data


def blocks(findings: list[Finding]) -> bool:
    """True when any finding blocks submission."""
    return any(f.severity == "block" for f in findings)
