"""Tools of every content editor (templates here, the campaign text in ``campaigns``)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from reviews.policy.rules import to_chinese_punctuation
from smsmarketing.permissions import Capability
from smsmarketing.portal import shop_view


@shop_view(requires=Capability.OPERATE)
@require_POST
def punctuation_view(request: HttpRequest) -> JsonResponse:
    """转换为中文标点: the posted ``text`` with every half-width mark TPL-PUNCT flags turned into
    its Chinese mark (variables, links, phone numbers and 9.9 untouched). The editor puts the
    text back into its box (``reviews/punctuation_button.html``); nothing is saved."""
    text, changed = to_chinese_punctuation(request.POST.get("text", ""))
    if changed:
        message = _("已将%(n)d处英文标点转换为中文标点。") % {"n": changed}
    else:
        message = _("没有需要转换的英文标点。")
    return JsonResponse({"text": text, "changed": changed, "message": message})
