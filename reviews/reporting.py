"""The review report: queue size, overdue items and decision times per kind."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.apps import apps
from django.db.models import Aggregate, Count, F, FloatField, Func, Q
from django.utils import timezone

from reviews.models.review import ReviewedItem, ReviewState


class PercentileCont(Aggregate):
    """PostgreSQL ``percentile_cont(p) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, percentile: float, **extra) -> None:
        super().__init__(expression, percentile=float(percentile), **extra)


def decision_seconds():
    """Seconds from submission to decision, as an SQL expression."""
    return Func(
        F("decided_at") - F("submitted_at"),
        template="EXTRACT(EPOCH FROM %(expressions)s)",
        output_field=FloatField(),
    )


@dataclass(frozen=True)
class KindReport:
    kind: str
    pending: int
    overdue: int
    decided: int
    approved: int
    rejected: int
    within_sla: int
    median_hours: float | None
    p95_hours: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def reviewed_models() -> list[type[ReviewedItem]]:
    """Every concrete reviewed kind of the reviews app (signatures, templates, ...)."""
    models = apps.get_app_config("reviews").get_models()
    return [m for m in models if issubclass(m, ReviewedItem) and not m._meta.proxy]


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def review_report(
    *, since: dt.datetime, until: dt.datetime, now: dt.datetime | None = None
) -> list[KindReport]:
    """Per kind: pending and overdue now; decisions made in [since, until) and their times.

    A decision is an approval or rejection by a reviewer (withdrawals are not
    decisions); its time is ``decided_at - submitted_at`` in wall-clock hours.
    """
    now = now or timezone.now()
    reports = []
    for model in reviewed_models():
        pending = model.objects.filter(state=ReviewState.PENDING)
        decided = model.objects.filter(
            decided_by__isnull=False, decided_at__gte=since, decided_at__lt=until
        )
        stats = decided.aggregate(
            decided=Count("pk"),
            rejected=Count("pk", filter=Q(state=ReviewState.REJECTED)),
            within_sla=Count("pk", filter=Q(decided_at__lte=F("due_at"))),
            median=PercentileCont(decision_seconds(), percentile=0.5),
            p95=PercentileCont(decision_seconds(), percentile=0.95),
        )
        reports.append(KindReport(
            kind=model.review_kind,
            pending=pending.count(),
            overdue=pending.filter(due_at__lt=now).count(),
            decided=stats["decided"],
            approved=stats["decided"] - stats["rejected"],
            rejected=stats["rejected"],
            within_sla=stats["within_sla"],
            median_hours=_hours(stats["median"]),
            p95_hours=_hours(stats["p95"]),
        ))
    return reports
