"""Template context of every page: the bell's unread count on the shop's portal pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from smsmarketing.notification_selectors import notifications_unread_count


class UnreadCount:
    """The member's unread notifications of ``request.shop``, counted on first use (one query,
    and only on pages that show the bell) and then remembered for the rest of the page."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.value: int | None = None

    def __call__(self) -> int:
        if self.value is None:
            shop = getattr(self.request, "shop", None)
            self.value = 0 if shop is None else notifications_unread_count(shop=shop, user=self.request.user)
        return self.value


def notifications(request: HttpRequest) -> dict[str, Any]:
    return {"notification_unread": UnreadCount(request)}
