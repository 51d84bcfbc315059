"""Merchant pages of the message history's archives (历史归档): the monthly files of messages past
the retention (docs/RETENTION.md), listed and downloaded."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from campaigns.selectors import retention_cutoff, shop_message_archives
from smsmarketing.portal import render_portal, shop_view


@shop_view
@require_GET
def archive_list(request: HttpRequest) -> HttpResponse:
    context = {
        "nav": "archives",
        "title": _("历史归档"),
        "archives": shop_message_archives(shop_id=request.shop.pk),
        "retention_months": settings.SMS_MESSAGE_RETENTION_MONTHS,
        "kept_from": retention_cutoff(),
    }
    return render_portal(request, "campaigns/archives.html", context)


@shop_view
@require_GET
def archive_download(request: HttpRequest, archive_id: int) -> HttpResponse:
    archive = get_object_or_404(shop_message_archives(shop_id=request.shop.pk), pk=archive_id)
    path = Path(settings.SMS_ARCHIVE_DIR) / archive.path
    if not path.is_file():
        messages.error(
            request,
            _("{month} 的归档文件暂时无法下载（文件不在归档目录中），请联系平台客服处理。").format(
                month=f"{archive.month:%Y年%m月}"
            ),
        )
        return redirect("campaigns:archives", request.shop.pk)
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"messages-{archive.month:%Y-%m}.csv.gz",
        content_type="application/gzip",
    )
