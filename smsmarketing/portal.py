"""The merchant portal's shell: resolving the shop of a request.

Every merchant URL is ``/shop/<shop_id>/...``. ``shop_view`` requires a login,
resolves the shop among the user's memberships (404 for any other shop, so a
merchant never learns that another shop exists) and puts it on
``request.shop``. Templates get ``shop`` and the restricted-category notice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from smsmarketing.selectors import shop_for_user
from smsmarketing.services import restricted_message

ViewFunc = Callable[..., HttpResponse]


def shop_view(view: ViewFunc) -> ViewFunc:
    """Decorate a merchant view taking ``shop_id``; the view gets ``request.shop``."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, shop_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
        request.shop = shop_for_user(user=request.user, shop_id=shop_id)
        return view(request, *args, **kwargs)

    return wrapper


def render_portal(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    """Render a portal page with the shop and its restricted-category notice."""
    shop = request.shop
    base = {
        "shop": shop,
        "sms_restricted": shop.sms_restricted,
        "restricted_message": restricted_message(shop=shop) if shop.sms_restricted else "",
    }
    return render(request, template, {**base, **(context or {})}, status=status)
