"""The members page (成员管理): the list, and for 店主 invite, change role, remove (confirmed).

Every member sees the list and the recent changes; the forms are 店主-only (``Capability.MEMBERS``,
checked again by the services). Thin adapters: parse the form, call one service, show its
Chinese message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from smsmarketing.errors import SmsError
from smsmarketing.forms import MemberInviteForm, MemberRoleForm
from smsmarketing.models import Membership
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view
from smsmarketing.selectors import member_events_recent, shop_member, shop_members
from smsmarketing.services.members import (
    member_invite,
    member_removal_preview,
    member_remove,
    member_role_change,
)


def _name(member: Membership) -> str:
    """A username as typed, marked so the page's language checks (and translators) leave it."""
    return format_html('<span translate="no">{}</span>', member.user.get_username())


def _page(request: HttpRequest, *, form: MemberInviteForm | None = None, status: int = 200) -> HttpResponse:
    members = shop_members(shop=request.shop)
    context: dict[str, Any] = {
        "nav": "members",
        "title": _("成员管理"),
        "members": members,
        "owners": sum(1 for m in members if m.role == Membership.Role.OWNER),
        "events": member_events_recent(shop=request.shop),
        "form": form or MemberInviteForm(),
        "role_choices": Membership.Role.choices,
        "shop_role_label": Membership.Role(request.shop_role).label,
    }
    return render_portal(request, "portal/members.html", context, status=status)


@shop_view
@require_GET
def members(request: HttpRequest) -> HttpResponse:
    return _page(request)


@shop_view(requires=Capability.MEMBERS)
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    form = MemberInviteForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        membership = member_invite(
            shop=request.shop,
            user=request.user,
            username=data["username"],
            role=data["role"],
            create=data["create"],
            password=data["password"] or None,
        )
    except SmsError as exc:
        field = "password" if exc.rule == "PASSWORD-INVALID" else "username"
        form.add_error(field, exc.message)
        return _page(request, form=form, status=400)
    if data["create"]:
        note = _("已新建账号“{username}”并以「{role}」加入本店铺。请把用户名和初始密码告诉对方。")
    else:
        note = _("已邀请“{username}”以「{role}」加入本店铺，对方下次登录即可看到本店铺。")
    role = membership.get_role_display()
    messages.success(request, format_html(note, username=_name(membership), role=role))
    return redirect("portal:members", shop_id=request.shop.pk)


@shop_view(requires=Capability.MEMBERS)
@require_POST
def change_role(request: HttpRequest, member_id: int) -> HttpResponse:
    member = shop_member(shop=request.shop, member_id=member_id)  # 404 for another shop's member
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请选择角色：店主、运营或只读。"))
        return redirect("portal:members", shop_id=request.shop.pk)
    try:
        membership = member_role_change(
            shop=request.shop, user=request.user, member=member.pk, role=form.cleaned_data["role"]
        )
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            format_html(
                _("“{username}”的角色现在是「{role}」。"),
                username=_name(membership),
                role=membership.get_role_display(),
            ),
        )
    return redirect("portal:members", shop_id=request.shop.pk)


@shop_view(requires=Capability.MEMBERS)
@require_http_methods(["GET", "POST"])
def remove(request: HttpRequest, member_id: int) -> HttpResponse:
    """GET: what the removal does (cannot be undone); POST: remove."""
    member = shop_member(shop=request.shop, member_id=member_id)
    error = ""
    if request.method == "POST":
        try:
            effects = member_remove(shop=request.shop, user=request.user, member=member.pk)
        except SmsError as exc:
            error = exc.message
        else:
            done = format_html(_("已将“{username}”移出本店铺。"), username=_name(member))
            messages.success(request, format_html_join(" ", "{}", [(line,) for line in [done, *effects]]))
            if member.user_id == request.user.pk:
                return redirect("portal:home")  # they left the shop: its pages are no longer theirs
            return redirect("portal:members", shop_id=request.shop.pk)
    owners = Membership.objects.filter(shop=request.shop, role=Membership.Role.OWNER).count()
    context = {
        "nav": "members",
        "title": _("移除成员"),
        "member": member,
        "is_self": member.user_id == request.user.pk,
        "last_owner": member.role == Membership.Role.OWNER and owners <= 1,
        "effects": member_removal_preview(shop=request.shop, member=member),
        "error": error,
    }
    return render_portal(request, "portal/members_remove.html", context, status=400 if error else 200)
