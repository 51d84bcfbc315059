"""Writes and checks of pattern rules: trying a draft, publishing it as a new version."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from reviews.errors import ReviewError, ReviewPermissionDenied
from reviews.findings import Finding
from reviews.models.patterns import ContentPattern, PatternRevision
from reviews.policy.patterns import CompiledPattern, parse_lines, pattern_definition, pattern_findings
from reviews.services.findings import findings_refresh_enqueue

PATTERN_PUBLISH_PERMISSION = "reviews.change_contentpattern"


class PatternTestFailed(ReviewError):
    """A pattern's own examples do not hold: publishing it would change what the reviewer meant."""

    rule = "PATTERN-TEST-FAILED"


class PatternInvalid(ReviewError):
    rule = "PATTERN-INVALID"


def pattern_draft(pattern: ContentPattern) -> CompiledPattern:
    """The pattern's draft fields compiled (what publishing would put in force)."""
    definition = pattern_definition(pattern)
    if not definition["first_terms"] or not definition["second_terms"]:
        raise PatternInvalid(_("两组词都至少需要一个词。"))
    return CompiledPattern.build(
        definition={**definition, "active": True}, version=pattern.version + 1, pattern_id=pattern.pk
    )


def pattern_published(pattern: ContentPattern) -> CompiledPattern | None:
    """The version of the pattern the checker uses now (None before the first publish)."""
    revision = pattern.revisions.filter(version=pattern.version).first() if pattern.version else None
    if revision is None:
        return None
    return CompiledPattern.build(
        definition=revision.definition, version=revision.version, pattern_id=pattern.pk
    )


@dataclass(frozen=True)
class ExampleResult:
    text: str
    expected: bool  # True: the pattern must flag it
    findings: list[Finding]

    @property
    def flagged(self) -> bool:
        return bool(self.findings)

    @property
    def ok(self) -> bool:
        return self.flagged == self.expected


def pattern_examples(pattern: ContentPattern, compiled: CompiledPattern | None = None) -> list[ExampleResult]:
    """Each example (must flag) and counter-example (must not) of the pattern, run on ``compiled``
    (default: the draft)."""
    compiled = compiled or pattern_draft(pattern)
    results = []
    for expected, lines in ((True, pattern.examples), (False, pattern.counter_examples)):
        for text in parse_lines(lines):
            results.append(ExampleResult(text, expected, pattern_findings(text=text, patterns=[compiled])))
    return results


def pattern_publish(*, pattern: ContentPattern, by) -> PatternRevision | None:
    """Publish the pattern's draft fields as a new version, if they differ from the latest one.

    Refused (``PatternTestFailed``) when an example is not flagged or a counter-example is.
    Returns the new revision, or None when nothing changed. Race: two reviewers publishing the
    same pattern at once: the row is locked (SELECT ... FOR UPDATE) so versions are taken one
    after the other; the unique (pattern, version) constraint is the second guard.
    """
    if by is None or not by.has_perm(PATTERN_PUBLISH_PERMISSION):
        raise ReviewPermissionDenied(_("您没有发布组合规则的权限。"))
    with transaction.atomic():
        locked = ContentPattern.objects.select_for_update().get(pk=pattern.pk)
        compiled = pattern_draft(locked)
        failed = [r for r in pattern_examples(locked, compiled) if not r.ok]
        if failed:
            lines = "；".join(
                (_("应命中但未命中：%s") if r.expected else _("不应命中但命中了：%s")) % r.text
                for r in failed
            )
            raise PatternTestFailed(_("例句检查未通过，未发布。%s") % lines)
        definition = pattern_definition(locked)
        latest = locked.revisions.filter(version=locked.version).first()
        if latest is not None and latest.definition == definition:
            return None
        version = locked.version + 1
        revision = PatternRevision.objects.create(
            pattern=locked,
            version=version,
            definition=definition,
            published_at=timezone.now(),
            published_by=by,
        )
        ContentPattern.objects.filter(pk=locked.pk).update(
            version=F("version") + 1, updated_at=timezone.now()
        )
        # Pending templates' stored findings name the old pattern versions: recompute them.
        findings_refresh_enqueue(kind="template")
    pattern.refresh_from_db(fields=["version", "updated_at"])
    return revision
