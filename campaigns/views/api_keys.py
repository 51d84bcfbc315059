"""Merchant pages of the open API (开放接口): the shop's API keys, created and revoked by its owner.

A new key is shown once, on the answer to the POST that created it (never stored, never in a
redirect or the session); revoking asks for confirmation first. Staff see the list and a notice
that only the owner manages keys; a staff POST is refused (403) with that notice.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from campaigns.forms import ApiKeyForm
from campaigns.models.api import ApiKey
from campaigns.services.api_keys import MAX_ACTIVE_KEYS, api_key_create, api_key_revoke
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability, role_allows
from smsmarketing.portal import render_portal, shop_view

OWNER_ONLY = gettext_lazy("只有店主可以创建或吊销 API 密钥，请联系店主操作。")


def _is_owner(request: HttpRequest) -> bool:
    """The member may manage keys (INTEGRATIONS: the owner); read from the request, no query."""
    return role_allows(request.shop_role, Capability.INTEGRATIONS)


def _render_list(
    request: HttpRequest,
    *,
    form: ApiKeyForm,
    new_key: str = "",
    new_row: ApiKey | None = None,
    status: int = 200,
) -> HttpResponse:
    keys = ApiKey.objects.filter(shop=request.shop).select_related("created_by", "revoked_by")
    context = {
        "nav": "api",
        "keys": keys,
        "form": form,
        "is_owner": _is_owner(request),
        "owner_only": OWNER_ONLY,
        "new_key": new_key,
        "new_row": new_row,
        "max_active": MAX_ACTIVE_KEYS,
        "api_base": request.build_absolute_uri("/api/v1/"),
    }
    return render_portal(request, "portal/api_keys.html", context, status=status)


@shop_view(post_requires=Capability.INTEGRATIONS)
@never_cache
def api_keys(request: HttpRequest) -> HttpResponse:
    """开放接口: the keys; the owner's POST creates one and shows it once."""
    if request.method != "POST":
        return _render_list(request, form=ApiKeyForm())
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _render_list(request, form=form, status=422)
    try:
        row, token = api_key_create(
            shop=request.shop,
            user=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
        )
    except SmsError as error:
        form.add_error(None, error.message)
        return _render_list(request, form=form, status=422)
    # Rendered on the POST's answer (no redirect): the whole key exists only in this response.
    return _render_list(request, form=ApiKeyForm(), new_key=token, new_row=row)


@shop_view(requires=Capability.INTEGRATIONS)
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    """吊销: a GET says what revoking does; the owner's POST revokes."""
    key = get_object_or_404(ApiKey, pk=key_id, shop=request.shop)
    is_owner = _is_owner(request)
    if request.method == "POST":
        try:
            api_key_revoke(key=key, user=request.user)
        except SmsError as error:
            messages.error(request, error.message)
            return redirect("campaigns:api_key_revoke", request.shop.pk, key.pk)
        messages.success(
            request, _("密钥 {prefix}（{name}）已吊销。").format(prefix=key.display_prefix, name=key.name)
        )
        return redirect("campaigns:api_keys", request.shop.pk)
    return render_portal(
        request,
        "portal/api_key_revoke.html",
        {"nav": "api", "key": key, "is_owner": is_owner, "owner_only": OWNER_ONLY},
    )
