"""The portal's display filters: numbers, money, suppression reasons, ledger references."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from smsmarketing.templatetags.sms_format import ledger_reference, reason_label, signed, thousands, yuan


def test_it_formats_numbers_and_money_the_same_in_every_locale():
    assert thousands(1234567) == "1,234,567" and signed(1000) == "+1,000" and signed(0) == "0"
    assert yuan(Decimal("4000")) == "¥4,000.00" and thousands("—") == "—"


def test_it_explains_suppression_reasons_in_chinese_and_keeps_unknown_ids():
    assert str(reason_label("OPTED-OUT")) == "客户已退订"
    assert str(reason_label("FREQ-PLATFORM-DAY")) == "超过全平台每日营销短信上限"
    assert reason_label("SOMETHING-NEW") == "SOMETHING-NEW"


def test_it_turns_internal_send_references_into_the_campaign_number():
    charge = SimpleNamespace(reference="campaign:23:run:23:batch:1", note="settle:charge:campaign:23:0a")
    assert ledger_reference(charge) == "营销任务 #23"
    order = SimpleNamespace(reference="CZ2026112412", note="")
    assert ledger_reference(order) == "CZ2026112412"
    grant = SimpleNamespace(reference="", note="双11 补偿")
    assert ledger_reference(grant) == "双11 补偿"
