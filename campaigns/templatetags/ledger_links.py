"""What a ledger entry was for, linked to its campaign.

``{% load ledger_links %}{% ledger_subject entry shop %}``.

The SMS account pages (smsmarketing) list ledger entries; the campaigns app writes the
entries of its sends (``account_reserve(reference=..., label=...)``) and knows its own
reference format, so it renders the link here: the portal shell links to the campaign
without importing this app (dependencies point campaigns → reviews → smsmarketing), and
the page needs no query per row (the label is stored on the entry).
"""

from __future__ import annotations

import re

from django import template
from django.utils.translation import gettext as _

from smsmarketing.templatetags.sms_format import ledger_reference

register = template.Library()

# The reservation reference of a send (campaigns.models.sending.reservation_reference):
# "campaign:<campaign id>:run:<run id>:batch:<n>".
_CAMPAIGN_REFERENCE = re.compile(r"^campaign:(\d+):")


def campaign_id_of(reference: str) -> int | None:
    match = _CAMPAIGN_REFERENCE.match(reference or "")
    return int(match.group(1)) if match else None


@register.inclusion_tag("portal/ledger_subject.html")
def ledger_subject(entry, shop) -> dict:
    """The entry's label (营销任务「双11会员券」) linked to its campaign; other entries as before.

    Entries written before labels existed read 营销任务 #23, still linked.
    """
    campaign_id = campaign_id_of(str(getattr(entry, "reference", "") or ""))
    label = getattr(entry, "label", "") or ""
    if not label:
        label = _("营销任务 #{id}").format(id=campaign_id) if campaign_id else ledger_reference(entry)
    return {"shop": shop, "campaign_id": campaign_id, "label": label}
