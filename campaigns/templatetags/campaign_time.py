"""When a campaign really goes out: marketing waits for 08:00–21:00 (Asia/Shanghai), so a time
chosen in the quiet hours is shown as the time the window opens (22:30 → 08:00 the next day)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from campaigns.services.frequency import in_quiet_hours, next_send_window

register = template.Library()


@register.filter
def real_send_time(at: datetime | None) -> datetime | None:
    """The moment a marketing send chosen for ``at`` really goes out."""
    return next_send_window(at) if at else None


@register.filter
def in_quiet_window(at: datetime | None) -> bool:
    """True when ``at`` falls in the quiet hours (the send waits for 08:00)."""
    return bool(at) and in_quiet_hours(at)


@register.filter
def daily_send_time(at: datetime | None) -> str:
    """The time of day a daily run really sends (HH:MM): its own, or 08:00 in the quiet hours."""
    if not at:
        return ""
    return timezone.localtime(next_send_window(at)).strftime("%H:%M")
