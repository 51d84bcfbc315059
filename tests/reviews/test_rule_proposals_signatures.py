"""Signatures teach their own lists: a rejected signature's span proposed as a brand term, a
neutral name or a confusable, dry-run over signatures, published by a second reviewer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import NeutralName, PlatformBrandTerm, RuleProposal
from reviews.models.confusables import Confusable
from reviews.services.proposals import (
    ProposalInvalid,
    proposal_dry_run,
    rule_proposal_create,
    rule_proposal_publish,
)
from reviews.services.signatures import signature_current_findings, signature_reject, signature_submit
from tests.factories import make_reviewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def sam(db):
    return make_reviewer("sam")


def propose(signature, reviewer, part: str, **extra) -> RuleProposal:
    start = signature.text.index(part)
    return rule_proposal_create(
        item=signature, reviewer=reviewer, start=start, end=start + len(part),
        kind=extra.pop("kind", "term"), rule=extra.pop("rule", "SIG-PLATFORM"), **extra,
    )  # fmt: skip


def found(signature) -> list[tuple[str, str]]:
    return [(f.rule, signature.text[f.start : f.end]) for f in signature_current_findings(signature)]


def test_a_brand_nickname_becomes_a_brand_term_after_a_second_reviewer_publishes(
    reviewer, sam, alice, alice_shop, bob, bob_shop
):
    signature = signature_submit(shop=alice_shop, text="狗东优选", by=alice)
    other = signature_submit(shop=bob_shop, text="狗东好物", by=bob)
    assert found(signature) == []
    signature_reject(signature=signature, reviewer=reviewer, reason_code="platform_brand")
    proposal = propose(signature, reviewer, "狗东")
    run = proposal_dry_run(proposal)
    assert (run.item_label, run.pending_total, run.pending_flagged) == ("签名", 1, 1)
    assert (run.reviewed_total, run.reviewed_flagged, run.source_flagged) == (1, 1, True)
    published = rule_proposal_publish(proposal=proposal, reviewer=sam)
    assert (published.status, published.published_version) == ("published", None)
    assert PlatformBrandTerm.objects.filter(term="狗东").exists()
    assert found(signature) == [("SIG-PLATFORM", "狗东")] and found(other) == [("SIG-PLATFORM", "狗东")]


def test_a_whole_neutral_signature_becomes_an_exact_neutral_name(reviewer, sam, alice, alice_shop):
    signature = signature_submit(shop=alice_shop, text="官方旗舰", by=alice)
    proposal = propose(signature, reviewer, "官方旗舰", rule="SIG-NEUTRAL")
    rule_proposal_publish(proposal=proposal, reviewer=sam)
    name = NeutralName.objects.get(term="官方旗舰")
    assert name.match == NeutralName.Match.EXACT
    assert found(signature) == [("SIG-NEUTRAL", "官方旗舰")]


def test_a_look_alike_of_a_brand_becomes_a_confusable(reviewer, sam, alice, alice_shop):
    signature = signature_submit(shop=alice_shop, text="京冻好物", by=alice)
    proposal = propose(signature, reviewer, "京冻", kind="confusable", canonical="京东")
    assert proposal_dry_run(proposal).source_flagged
    rule_proposal_publish(proposal=proposal, reviewer=sam)
    assert Confusable.objects.filter(variant="京冻", canonical="京东").exists()
    assert found(signature) == [("SIG-PLATFORM", "京冻")]


def test_a_signature_cannot_teach_a_pattern_or_a_template_rule(reviewer, alice, alice_shop):
    signature = signature_submit(shop=alice_shop, text="狗东优选", by=alice)
    with pytest.raises(ProposalInvalid, match="签名不能提出组合规则"):
        propose(signature, reviewer, "狗东", kind="pattern", canonical="优选")
    with pytest.raises(ProposalInvalid, match="请选择规则"):
        propose(signature, reviewer, "狗东", rule="TPL-OFFSITE")
    assert not RuleProposal.objects.exists()


def test_the_signature_decision_page_files_a_proposal_with_the_rejection(client, reviewer, alice, alice_shop):
    signature = signature_submit(shop=alice_shop, text="狗东优选", by=alice)
    client.force_login(reviewer)
    url = reverse("admin:reviews_signature_decide", args=[signature.pk])
    body = client.get(url).content.decode()
    assert 'id="teach-text"' in body and 'value="SIG-PLATFORM"' in body and 'name="teach-max_gap"' not in body
    response = client.post(url, {
        "decision": "reject", "reason_code": "platform_brand", "reason_text": "",
        "teach-start": 0, "teach-end": 2, "teach-kind": "term", "teach-rule": "SIG-PLATFORM",
    })  # fmt: skip
    assert response.status_code == 302
    signature.refresh_from_db()
    proposal = RuleProposal.objects.get()
    assert signature.state == "rejected"
    assert (proposal.item_kind, proposal.text, proposal.rule) == ("signature", "狗东", "SIG-PLATFORM")
