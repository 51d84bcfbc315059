"""Merchant pages of the shop's signature: the live and pending one, the history, the change form."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from reviews.findings import Finding
from reviews.forms import SignatureForm
from reviews.selectors import live_signature, pending_signature, signature_history
from reviews.services.review import review_withdraw_token
from reviews.services.signatures import (
    SignatureRefused,
    signature_check,
    signature_submit,
    signature_withdraw,
)
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view


@shop_view(post_requires=Capability.OPERATE)
def signature_page(request: HttpRequest) -> HttpResponse:
    """The shop's live and pending signature, the history, and the change form."""
    shop = request.shop
    form = SignatureForm(request.POST or None)
    findings = []
    if request.method == "POST" and form.is_valid():
        try:
            signature_submit(shop=shop, text=form.cleaned_data["text"], by=request.user)
        except SignatureRefused as exc:
            findings = exc.findings
            if not findings:
                form.add_error("text", exc.message)
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("签名已提交审核，审核通过前将继续使用当前签名。"))
            return redirect("reviews:signature", shop_id=shop.pk)
    return render_portal(
        request,
        "portal/signature.html",
        {
            "nav": "signature",
            "form": form,
            "findings": findings,
            "segments": highlight(form.data.get("text", "").strip(), findings),
            **_signature_context(shop),
        },
        status=400 if request.method == "POST" else 200,
    )


def highlight(text: str, findings: list[Finding]) -> list[tuple[str, bool]]:
    """Split ``text`` into (segment, marked) pieces, marking every finding's span."""
    marked = [False] * len(text)
    for finding in findings:
        for index in range(max(finding.start, 0), min(finding.end, len(text))):
            marked[index] = True
    segments: list[tuple[str, bool]] = []
    for char, flag in zip(text, marked, strict=True):
        if segments and segments[-1][1] == flag:
            segments[-1] = (segments[-1][0] + char, flag)
        else:
            segments.append((char, flag))
    return segments


def _signature_context(shop) -> dict:
    return {
        "live": live_signature(shop=shop),
        "pending": pending_signature(shop=shop),
        "history": signature_history(shop=shop),
    }


@shop_view(requires=Capability.OPERATE)
def signature_check_view(request: HttpRequest) -> HttpResponse:
    """htmx check-as-you-type: the findings a submission of ``text`` would get."""
    text = (request.POST.get("text") or request.GET.get("text") or "").strip()
    findings = signature_check(shop=request.shop, text=text) if text else []
    context = {"findings": findings, "segments": highlight(text, findings), "checked": bool(text)}
    return render(request, "portal/signature_findings.html", context)


@shop_view(requires=Capability.OPERATE)
def signature_withdraw_view(request: HttpRequest) -> HttpResponse:
    """撤回申请: a GET shows what a withdrawal does (the pending signature is withdrawn, the
    live one stays in use); the POST carries the token of the signature shown."""
    shop = request.shop
    if request.method == "POST":
        try:
            signature_withdraw(shop=shop, by=request.user, token=request.POST.get("token", ""))
        except SmsError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("已撤回待审核的签名。"))
        return redirect("reviews:signature", shop_id=shop.pk)
    pending = pending_signature(shop=shop)
    if pending is None:
        messages.info(request, _("没有审核中的签名，无需撤回。"))
        return redirect("reviews:signature", shop_id=shop.pk)
    context = {"nav": "signature", "pending": pending, "live": live_signature(shop=shop),
               "token": review_withdraw_token(pending)}
    return render_portal(request, "portal/signature_withdraw.html", context)
