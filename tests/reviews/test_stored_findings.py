"""The queue shows findings stored on the row while today's policy is the one they were computed
with, and recomputes (and stores) them as soon as any input changed: a word list published, a
variable edited, the shop's live signature changed, a neutral name added, another shop taking
the same signature. Decisions always run the rules again."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.findings import Finding
from reviews.models import MessageTemplate, NeutralName, WordList, WordListTerm
from reviews.models.policy import TemplateVariable
from reviews.models.signatures import PlatformBrandTerm
from reviews.policy.services import REFRESH_FINDINGS_TASK, wordlist_publish
from reviews.services.findings import review_findings_refresh
from reviews.services.signatures import signature_findings_key, signature_submit
from reviews.services.templates import (
    template_current_findings,
    template_findings_key,
    template_submit,
)
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


def rules(template: MessageTemplate) -> set[str]:
    template.refresh_from_db()
    return {f["rule"] for f in template.checked_findings}


def queue_column(client) -> str:
    """The findings cells of the queue page, in row order."""
    body = client.get(reverse(QUEUE)).content.decode()
    return "".join(part.split("</td>")[0] for part in body.split('class="field-findings_display">')[1:])


def test_it_stores_the_findings_and_their_fingerprint_at_submission(alice, alice_shop):
    template = submit(alice_shop, alice, text="${shop_name}新品首发，领券：${coupon_link}")
    assert template.checked_key == template_findings_key(template)
    assert template.checked_findings == [f.as_dict() for f in template_current_findings(template)]
    assert rules(template) == {"TPL-ADLAW"}
    signature = signature_submit(shop=alice_shop, text="爱丽丝小铺", by=alice)
    assert (signature.checked_findings, signature.checked_key) == ([], signature_findings_key(signature))


def test_it_shows_the_stored_findings_while_the_policy_is_unchanged(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    # A finding only the stored row holds proves the page read the row, not the rules.
    stored = Finding("TPL-STORED", 0, 1, "warn", "存储的发现", "")
    MessageTemplate.objects.filter(pk=template.pk).update(checked_findings=[stored.as_dict()])
    client.force_login(reviewer)
    assert "TPL-STORED" in queue_column(client)


def test_it_recomputes_and_stores_findings_after_a_word_list_is_published(
    client, reviewer, alice, alice_shop
):
    template = submit(alice_shop, alice, text="${shop_name}爆款好物，领券：${coupon_link}")
    before = template.checked_key
    assert rules(template) == set()
    publish_term("爆款", by=reviewer)
    client.force_login(reviewer)
    assert "TPL-ADLAW" in queue_column(client)  # never the stale "无发现"
    template.refresh_from_db()
    assert rules(template) == {"TPL-ADLAW"} and template.checked_key not in ("", before)
    assert template.checked_key == template_findings_key(template)
    assert "TPL-ADLAW" in queue_column(client)  # and read back from the row on the next view


def test_publishing_a_word_list_refreshes_every_pending_item_in_the_background(
    alice, alice_shop, bob, bob_shop, reviewer, django_capture_on_commit_callbacks
):
    flagged = [submit(alice_shop, alice, text="${shop_name}爆款好物，领券：${coupon_link}"),
               submit(bob_shop, bob, text="${shop_name}爆款新品，领券：${coupon_link}", name="新品")]
    clean = submit(bob_shop, bob, name="另一个")
    with django_capture_on_commit_callbacks() as callbacks:
        publish_term("爆款", by=reviewer)
    assert [rules(t) for t in flagged] == [set(), set()]  # stale until the task runs
    (enqueue,) = callbacks
    enqueue()  # async_task(REFRESH_FINDINGS_TASK); the test settings run django-q2 tasks inline
    assert [rules(t) for t in flagged] == [{"TPL-ADLAW"}, {"TPL-ADLAW"}] and rules(clean) == set()
    assert all(t.checked_key == template_findings_key(t) for t in [*flagged, clean])
    assert review_findings_refresh() == 0  # every fingerprint is today's now
    assert REFRESH_FINDINGS_TASK == f"{review_findings_refresh.__module__}.{review_findings_refresh.__name__}"


def test_the_fingerprint_follows_variables_and_the_shops_live_signature(alice, alice_shop, reviewer):
    template = submit(alice_shop, alice)
    key = template_findings_key(template)
    live_signature_for(alice_shop, alice, reviewer)  # length and parts count the live signature
    assert template_findings_key(template) != key
    key = template_findings_key(template)
    TemplateVariable.objects.filter(name="coupon_amount").update(max_length=30)
    assert template_findings_key(template) != key


def test_the_signature_queue_recomputes_after_a_neutral_name_is_added(client, reviewer, alice, alice_shop):
    signature = signature_submit(shop=alice_shop, text="好店铺", by=alice)
    client.force_login(reviewer)
    url = reverse("admin:reviews_signature_changelist")
    assert "SIG-NEUTRAL" not in client.get(url).content.decode()
    NeutralName.objects.create(term="好店铺", match="exact")
    assert "SIG-NEUTRAL" in client.get(url).content.decode()
    signature.refresh_from_db()
    assert [f["rule"] for f in signature.checked_findings] == ["SIG-NEUTRAL"]
    assert signature.checked_key == signature_findings_key(signature)


def test_editing_a_variable_or_a_signature_word_refreshes_pending_items_in_the_background(
    alice, alice_shop, bob, bob_shop, django_capture_on_commit_callbacks
):
    """Like a word-list publish: an admin edit of a variable, a neutral name or a brand term
    queues the refresh, so the queue's next view finds today's findings stored."""
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
    signature.refresh_from_db()
    assert [f["rule"] for f in signature.checked_findings] == ["SIG-NEUTRAL"]
    assert signature.checked_key == signature_findings_key(signature)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        neutral.delete()
        PlatformBrandTerm.objects.create(term="好店")
    assert len(callbacks) == 2
    signature.refresh_from_db()
    assert [f["rule"] for f in signature.checked_findings] == ["SIG-PLATFORM"]
    assert review_findings_refresh() == 0


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


def test_the_content_policy_key_reads_the_same_rows_as_the_orm(reviewer):
    """``_content_policy_key`` and ``_variable_specs`` read their rows with hand-written SQL: the
    same rows, types and order as the ORM (an inactive variable left out, ``position`` first)."""
    from reviews.policy.fingerprint import _content_policy_key, findings_key
    from reviews.policy.memo import policy_memo
    from reviews.policy.variables import _variable_specs

    TemplateVariable.objects.create(name="a_last", label="最后", type="text", example="x", max_length=5,
                                    uses=["coupon"], position=999)
    TemplateVariable.objects.create(name="a_off", label="停用", type="text", example="x", max_length=5,
                                    uses=["coupon"], active=False)
    publish_term("爆款", by=reviewer)
    rows = TemplateVariable.objects.filter(active=True).order_by("position", "name")
    specs = _variable_specs(use=None)
    assert [(s.name, s.label, s.type, s.example, s.max_length, s.uses) for s in specs.values()] == [
        (v.name, v.label, v.type, v.example, v.max_length, frozenset(v.uses)) for v in rows
    ]
    assert list(specs)[-1] == "a_last" and "a_off" not in specs
    assert list(_variable_specs(use="coupon")) == [v.name for v in rows if "coupon" in v.uses]
    lists = list(
        WordList.objects.order_by("id").values_list("id", "rule", "version", "message", "hint", "updated_at")
    )
    orm_specs = [[v.name, v.label, v.type, v.example, v.max_length, sorted(v.uses)] for v in rows]
    with policy_memo():
        assert _content_policy_key() == findings_key("content", lists, orm_specs)


def test_the_queue_primes_complete_live_signatures_in_one_query(
    alice, alice_shop, bob, bob_shop, reviewer, django_assert_num_queries
):
    from reviews.models.signatures import Signature
    from reviews.policy.memo import policy_memo
    from reviews.selectors import live_signature
    from reviews.services.findings import prime_live_signatures

    live = live_signature_for(alice_shop, alice, reviewer)
    signature_submit(shop=bob_shop, text="鲍勃小店", by=bob)  # pending: not live
    with policy_memo():
        with django_assert_num_queries(1):
            prime_live_signatures({alice_shop.pk, bob_shop.pk, None})
        with django_assert_num_queries(0):
            primed = live_signature(shop=alice_shop)
            assert live_signature(shop=bob_shop) is None
            assert primed.get_deferred_fields() == set()  # complete: reading a field never queries
    loaded = Signature.objects.get(pk=live.pk)
    assert [getattr(primed, f.attname) for f in Signature._meta.concrete_fields] == [
        getattr(loaded, f.attname) for f in Signature._meta.concrete_fields
    ]
