"""The merchant portal's shell: resolving the shop of a request.

Every merchant URL is ``/shop/<shop_id>/...``. ``shop_view`` requires a login,
resolves the shop among the user's memberships (404 for any other shop, so a
merchant never learns that another shop exists) and puts it on ``request.shop``,
with the member's role on ``request.shop_role``. ``shop_view(requires=...)`` also
refuses (403, naming the role needed) a member whose role lacks the capability
(``post_requires=...``: only a POST needs it, for a page that reads and also holds a form);
the services check the same capability again. Templates get ``shop``, ``shop_role``,
``can`` (capability name -> bool) and the restricted-category notice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from smsmarketing.permissions import Capability, refusal_message, role_allows
from smsmarketing.selectors import membership_for_user
from smsmarketing.services import restricted_message

ViewFunc = Callable[..., HttpResponse]


def shop_view(
    view: ViewFunc | None = None,
    *,
    requires: Capability = Capability.READ,
    post_requires: Capability | None = None,
) -> Any:
    """Decorate a merchant view taking ``shop_id``; the view gets ``request.shop`` and
    ``request.shop_role``. Used bare (``@shop_view``) any member may open the page;
    ``@shop_view(requires=Capability.OPERATE)`` refuses other roles with a 403 page;
    ``@shop_view(post_requires=Capability.OPERATE)``: any member may read the page, only
    those roles may POST its form."""

    def decorate(view: ViewFunc) -> ViewFunc:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, shop_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = membership_for_user(user=request.user, shop_id=shop_id)
            request.shop = membership.shop
            request.shop_role = membership.role
            needed = post_requires if post_requires and request.method == "POST" else requires
            if not role_allows(membership.role, needed):
                return render_portal(
                    request,
                    "portal/role_refused.html",
                    {"refusal": refusal_message(role=membership.role, capability=needed)},
                    status=403,
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def render_portal(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    """Render a portal page with the shop and its restricted-category notice."""
    shop = request.shop
    role = getattr(request, "shop_role", None)
    base = {
        "shop": shop,
        "shop_role": role,
        "can": {capability.value: role_allows(role, capability) for capability in Capability},
        "sms_restricted": shop.sms_restricted,
        "restricted_message": restricted_message(shop=shop) if shop.sms_restricted else "",
    }
    return render(request, template, {**base, **(context or {})}, status=status)
