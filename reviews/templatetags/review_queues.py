"""The review queues' counts on the admin home (``templates/admin/index.html``):
``{% load review_queues %}{% review_queue_summary %}``."""

from __future__ import annotations

from django import template

from reviews.selectors import review_queue_counts

register = template.Library()


@register.inclusion_tag("admin/reviews/queue_summary.html", takes_context=True)
def review_queue_summary(context) -> dict:
    """Pending and overdue counts of each queue the user may see, with links to them."""
    request = getattr(context, "request", None)
    user = getattr(request, "user", None)
    return {"queues": review_queue_counts(user=user) if user is not None else []}
