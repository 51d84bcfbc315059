"""Merchant page of coupons (优惠券): the list and the form creating one."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from campaigns.forms import CouponForm
from campaigns.models import Coupon
from campaigns.services.audience import coupon_create
from campaigns.services.links import LandingUrlRefused
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view


@shop_view(post_requires=Capability.OPERATE)
def coupon_list(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    form = CouponForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            coupon_create(shop=shop, user=request.user, **form.cleaned_data)
        except LandingUrlRefused as exc:
            form.add_error("landing_url", exc.message)
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "优惠券已创建。")
            return redirect("campaigns:coupons", shop.pk)
    coupons = Coupon.objects.filter(shop=shop)
    return render_portal(
        request,
        "portal/campaign_coupons.html",
        {"nav": "coupons", "form": form, "coupons": coupons, "now": timezone.now()},
    )
