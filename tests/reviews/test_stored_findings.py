"""Stored findings: each pending item keeps its findings and their fingerprint; the queue shows
them as stored and never writes; the refresh task recomputes the rows whose inputs changed (a
word list published, a variable edited, the shop's live signature changed, a neutral name or brand
term added, ``RULES_VERSION`` bumped). Decisions always run the rules again."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.findings import Finding
from reviews.models import MessageTemplate, NeutralName, Signature, WordList, WordListTerm
from reviews.models.policy import TemplateVariable
from reviews.models.signatures import PlatformBrandTerm
from reviews.policy import fingerprint
from reviews.services.findings import REFRESH_TASK, review_findings_refresh
from reviews.services.signatures import signature_findings_key, signature_submit
from reviews.services.templates import template_current_findings, template_findings_key, template_submit
from reviews.services.wordlists import wordlist_publish
from reviews.tasks import refresh_findings
from tests.campaigns.campaign_fixtures import live_signature_for

pytestmark = pytest.mark.django_db
GOOD = "${shop_name}送您${coupon_amount}优惠券，${coupon_threshold}，${coupon_expiry}前有效：${coupon_link}"
QUEUE = "admin:reviews_messagetemplate_changelist"


def submit(shop, user, text=GOOD, name="优惠券提醒") -> MessageTemplate:
    return template_submit(
        shop=shop, by=user, name=name, use="coupon", message_class="marketing", text=text
    )


def publish_term(term: str, *, rule: str = "TPL-ADLAW", by=None) -> None:
    wordlist = WordList.objects.get(rule=rule)
    WordListTerm.objects.create(wordlist=wordlist, term=term, severity="warn")
    assert wordlist_publish(wordlist=wordlist, by=by) is not None


def rules(item) -> set[str]:
    item.refresh_from_db()
    return {f["rule"] for f in item.checked_findings}


def queue_column(client, name: str = QUEUE) -> str:
    """The findings cells of a queue page, in row order."""
    body = client.get(reverse(name)).content.decode()
    return "".join(part.split("</td>")[0] for part in body.split('class="field-findings_display">')[1:])


def test_it_stores_the_findings_and_their_fingerprint_at_submission(alice, alice_shop):
    template = submit(alice_shop, alice, text="${shop_name}新品首发，领券：${coupon_link}")
    assert template.checked_key == template_findings_key(template)
    assert template.checked_findings == [f.as_dict() for f in template_current_findings(template)]
    assert rules(template) == {"TPL-ADLAW"}
    signature = signature_submit(shop=alice_shop, text="爱丽丝小铺", by=alice)
    assert (signature.checked_findings, signature.checked_key) == ([], signature_findings_key(signature))


def test_the_queue_shows_the_stored_findings(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    # A finding only the stored row holds proves the page read the row, not the rules.
    stored = Finding("TPL-STORED", 0, 1, "warn", "存储的发现", "")
    MessageTemplate.objects.filter(pk=template.pk).update(checked_findings=[stored.as_dict()])
    client.force_login(reviewer)
    assert "TPL-STORED" in queue_column(client)


def test_a_row_never_checked_shows_that_it_waits_for_the_check(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    MessageTemplate.objects.filter(pk=template.pk).update(checked_key="", checked_findings=[])
    client.force_login(reviewer)
    assert "待检查" in queue_column(client) and "无发现" not in queue_column(client)


def test_the_refresh_task_recomputes_only_stale_findings(alice, alice_shop, bob, bob_shop, reviewer):
    flagged = [submit(alice_shop, alice, text="${shop_name}爆款好物，领券：${coupon_link}"),
               submit(bob_shop, bob, text="${shop_name}爆款新品，领券：${coupon_link}", name="新品")]
    clean = submit(bob_shop, bob, name="另一个")
    before = {t.pk: t.checked_key for t in [*flagged, clean]}
    publish_term("爆款", by=reviewer)  # the test settings' django-q2 runs tasks inline: not on commit here
    assert [rules(t) for t in flagged] == [set(), set()]  # stale until the task runs
    assert refresh_findings() == 3  # every template's fingerprint named the old list version
    assert [rules(t) for t in flagged] == [{"TPL-ADLAW"}, {"TPL-ADLAW"}] and rules(clean) == set()
    for template in [*flagged, clean]:
        assert template.checked_key == template_findings_key(template) != before[template.pk]
    assert refresh_findings() == 0  # every fingerprint is today's now


def test_publishing_a_word_list_enqueues_the_refresh(
    alice, alice_shop, reviewer, django_capture_on_commit_callbacks
):
    template = submit(alice_shop, alice, text="${shop_name}爆款好物，领券：${coupon_link}")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        publish_term("爆款", by=reviewer)
    assert len(callbacks) == 1  # async_task(REFRESH_TASK); the test settings run it inline
    assert rules(template) == {"TPL-ADLAW"}
    assert REFRESH_TASK == f"{refresh_findings.__module__}.{refresh_findings.__name__}"


def test_a_new_live_signature_refreshes_the_shops_pending_templates(
    alice, alice_shop, reviewer, django_capture_on_commit_callbacks
):
    template = submit(alice_shop, alice)
    key = template.checked_key
    with django_capture_on_commit_callbacks(execute=True):
        live_signature_for(alice_shop, alice, reviewer)  # length and parts count the live signature
    template.refresh_from_db()
    assert template.checked_key == template_findings_key(template) != key


def test_the_fingerprint_follows_variables_the_live_signature_and_the_rules_version(
    alice, alice_shop, reviewer, monkeypatch
):
    template = submit(alice_shop, alice)
    key = template_findings_key(template)
    live_signature_for(alice_shop, alice, reviewer)
    assert template_findings_key(template) != key
    key = template_findings_key(template)
    TemplateVariable.objects.filter(name="coupon_amount").update(max_length=30)  # no signal
    assert template_findings_key(template) != key
    key = template_findings_key(template)
    monkeypatch.setattr(fingerprint, "RULES_VERSION", fingerprint.RULES_VERSION + 1)
    assert template_findings_key(template) != key
    assert review_findings_refresh(kind="template") == 1  # the deploy's scheduled refresh


def test_editing_a_variable_or_a_signature_word_refreshes_pending_items_in_the_background(
    alice, alice_shop, bob, bob_shop, django_capture_on_commit_callbacks
):
    """Like a word-list publish: an admin edit of a variable, a neutral name or a brand term
    queues the refresh, so the queue shows today's findings."""
    template = submit(alice_shop, alice)
    signature = signature_submit(shop=bob_shop, text="好店铺", by=bob)
    assert rules(template) == set() and signature.checked_findings == []

    variable = TemplateVariable.objects.get(name="coupon_amount")
    variable.active = False  # the template now uses an unknown variable
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        variable.save()
    assert len(callbacks) == 1
    assert "TPL-VARIABLE" in rules(template) and template.checked_key == template_findings_key(template)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        neutral = NeutralName.objects.create(term="好店铺", match="exact")
    assert len(callbacks) == 1
    assert rules(signature) == {"SIG-NEUTRAL"}
    assert signature.checked_key == signature_findings_key(signature)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        neutral.delete()
        PlatformBrandTerm.objects.create(term="好店")
    assert len(callbacks) == 2
    assert rules(signature) == {"SIG-PLATFORM"}
    assert review_findings_refresh() == 0


def test_the_signature_queue_shows_a_new_finding_once_refreshed(client, reviewer, alice, alice_shop):
    signature = signature_submit(shop=alice_shop, text="好店铺", by=alice)
    NeutralName.objects.bulk_create([NeutralName(term="好店铺", match="exact")])  # no signal
    client.force_login(reviewer)
    url = "admin:reviews_signature_changelist"
    assert "SIG-NEUTRAL" not in queue_column(client, url)  # stored, and the page never writes
    assert Signature.objects.get(pk=signature.pk).checked_findings == []
    assert review_findings_refresh(kind="signature") == 1
    assert "SIG-NEUTRAL" in queue_column(client, url)


def test_decisions_never_trust_stored_findings(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice, text="${shop_name}新品首发，领券：${coupon_link}")
    # Stored findings claiming "nothing found" under today's fingerprint (as if tampered with).
    MessageTemplate.objects.filter(pk=template.pk).update(checked_findings=[])
    client.force_login(reviewer)
    assert "TPL-ADLAW" not in queue_column(client)  # the list trusts the row ...
    decide = reverse("admin:reviews_messagetemplate_decide", args=[template.pk])
    assert "TPL-ADLAW" in client.get(decide).content.decode()  # ... the decision page does not
    client.post(reverse(QUEUE), {"action": "bulk_approve", "_selected_action": [template.pk]})
    template.refresh_from_db()
    assert template.state == "pending"  # bulk approve ran the rules: it has a finding
