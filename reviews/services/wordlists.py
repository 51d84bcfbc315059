"""Writes of the content-policy data: publishing a word list as a new version."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reviews.models.policy import WordList, WordListRevision
from reviews.services.findings import findings_refresh_enqueue


def wordlist_snapshot(*, wordlist: WordList) -> tuple[list[list[str]], list[str]]:
    """The list's current terms ([term, severity], sorted) and exceptions (sorted)."""
    terms = [[t.term, t.severity] for t in wordlist.terms.order_by("term")]
    exceptions = [e.phrase for e in wordlist.exceptions.order_by("phrase")]
    return terms, exceptions


def wordlist_publish(*, wordlist: WordList, by=None) -> WordListRevision | None:
    """Publish the list's current terms and exceptions as a new version, if they changed.

    Returns the new revision, or None when the content equals the latest one.
    Race: two reviewers saving the same list at once. The list row is locked
    (SELECT ... FOR UPDATE) so versions are taken one after the other, and the
    unique (wordlist, version) constraint is the second guard.
    """
    with transaction.atomic():
        locked = WordList.objects.select_for_update().get(pk=wordlist.pk)
        terms, exceptions = wordlist_snapshot(wordlist=locked)
        latest = locked.revisions.filter(version=locked.version).first()
        if latest is not None and latest.terms == terms and latest.exceptions == exceptions:
            return None
        version = locked.version + 1
        revision = WordListRevision.objects.create(
            wordlist=locked, version=version, terms=terms, exceptions=exceptions,
            published_at=timezone.now(), published_by=by if getattr(by, "pk", None) else None,
        )
        WordList.objects.filter(pk=locked.pk).update(version=F("version") + 1, updated_at=timezone.now())
        # The pending templates' stored findings are now stale (their fingerprint names the old
        # version): the queue shows stored findings, so recompute them in the background.
        findings_refresh_enqueue(kind="template")
    wordlist.refresh_from_db(fields=["version", "updated_at"])
    return revision
