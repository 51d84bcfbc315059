"""The confusables table is versioned data: edited in the admin, published, read by the checker."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from reviews.models import Confusable, ConfusableKind, ConfusableRevision, ConfusableTable
from reviews.policy.checker import check_content, content_policy
from reviews.policy.confusables import published_confusables
from reviews.policy.fingerprint import template_findings_key
from reviews.services.confusables import confusable_add, confusables_publish, confusables_snapshot
from tests.reviews.test_review_concurrency import run_at_once

pytestmark = pytest.mark.django_db

SHAPE = ConfusableKind.SHAPE
TEXT = "售后加我徽芯领红包，领券：${coupon_link}"


def offsite(text: str) -> list[str]:
    return [text[f.start:f.end] for f in check_content(kind="template", text=text).findings
            if f.rule == "TPL-OFFSITE"]


def test_it_is_seeded_and_published():
    table = ConfusableTable.objects.get()
    revision = ConfusableRevision.objects.get(table=table, version=table.version)
    assert sorted(map(tuple, revision.pairs)) == sorted(map(tuple, confusables_snapshot()))
    kinds = {kind for _variant, _canonical, kind in revision.pairs}
    assert kinds == set(ConfusableKind.values)
    assert published_confusables().version == table.version


def test_adding_a_row_in_the_admin_publishes_a_version_used_at_once(client, reviewer):
    table = ConfusableTable.objects.get()
    before = table.version
    client.force_login(reviewer)
    assert offsite(TEXT) == []
    assert client.get(reverse("admin:reviews_confusable_changelist") + "?q=微信").status_code == 200
    response = client.post(reverse("admin:reviews_confusable_add"), {
        "variant": "徽芯", "canonical": "微信", "kind": ConfusableKind.SHAPE, "note": "审核发现",
    })
    assert response.status_code == 302, response.context and response.context["errors"]
    table.refresh_from_db()
    assert table.version == before + 1
    revision = ConfusableRevision.objects.get(table=table, version=table.version)
    assert revision.published_by == reviewer and ["徽芯", "微信", "shape"] in revision.pairs
    assert offsite(TEXT) == ["徽芯"]
    # Deleting it publishes again, and the text passes again.
    row = Confusable.objects.get(variant="徽芯")
    response = client.post(reverse("admin:reviews_confusable_delete", args=[row.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert ConfusableTable.objects.get().version == before + 2
    assert offsite(TEXT) == []


def test_the_admin_refuses_a_row_that_changes_nothing(client, reviewer):
    client.force_login(reviewer)
    response = client.post(reverse("admin:reviews_confusable_add"), {
        "variant": "ＶＸ", "canonical": "vx", "kind": ConfusableKind.ABBREVIATION,
    })
    assert response.status_code == 200
    assert "变体写法与对应的词相同" in response.content.decode()
    assert not Confusable.objects.filter(variant="ＶＸ").exists()


@pytest.mark.parametrize(
    ("variant", "canonical", "kind", "field"),
    [
        ("ＶＸ", "vx", ConfusableKind.ABBREVIATION, "variant"),  # the same after normalisation
        (" * ", "微信", ConfusableKind.SHAPE, "variant"),  # nothing left to match
        ("薇芯", "··", ConfusableKind.HOMOPHONE, "canonical"),
    ],
)
def test_a_row_that_changes_nothing_is_refused_with_a_clear_error(variant, canonical, kind, field, reviewer):
    before = ConfusableTable.objects.get().version
    with pytest.raises(ValidationError) as error:
        confusable_add(variant=variant, canonical=canonical, kind=kind, by=reviewer)
    assert field in error.value.message_dict
    assert ConfusableTable.objects.get().version == before
    assert not Confusable.objects.filter(variant=variant, canonical=canonical).exists()


def test_a_row_kept_as_written_maps_to_itself():
    assert offsite("企鹅发夹上新，领券：${coupon_link}") == ["企鹅"]
    confusable_add(variant="企鹅发夹", canonical="", kind=ConfusableKind.KEEP)
    assert Confusable.objects.get(variant="企鹅发夹").canonical == "企鹅发夹"
    assert offsite("企鹅发夹上新，领券：${coupon_link}") == []


def test_publishing_an_unchanged_table_makes_no_version():
    before = ConfusableTable.objects.get().version
    assert confusables_publish() is None
    assert ConfusableTable.objects.get().version == before


def test_published_versions_are_read_only(client, reviewer):
    revision = ConfusableRevision.objects.first()
    client.force_login(reviewer)
    url = reverse("admin:reviews_confusablerevision_change", args=[revision.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"version": 99})
    revision.refresh_from_db()
    assert revision.version != 99


def test_a_publish_changes_the_fingerprint_of_stored_template_findings():
    inputs = {"signature": None, "text": TEXT, "use": "coupon", "message_class": "marketing"}
    before = template_findings_key(policy=content_policy(), **inputs)
    confusable_add(variant="徽芯", canonical="微信", kind=ConfusableKind.SHAPE)
    assert template_findings_key(policy=content_policy(), **inputs) != before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reviewers_publishing_at_once_take_one_version_each():
    for round_no in range(3):
        before = ConfusableTable.objects.get().version
        outcomes = run_at_once(
            lambda n=round_no: confusable_add(variant=f"徽芯{n}", canonical="微信", kind=SHAPE),
            lambda n=round_no: confusable_add(variant=f"薇芯{n}", canonical="微信", kind=SHAPE),
        )
        assert all(isinstance(o, ConfusableRevision) for o in outcomes), outcomes
        assert sorted(o.version for o in outcomes) == [before + 1, before + 2]
        latest = ConfusableRevision.objects.get(version=before + 2)
        assert {f"徽芯{round_no}", f"薇芯{round_no}"} <= {variant for variant, _c, _k in latest.pairs}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reviewers_adding_the_same_variant_at_once_leave_one_row():
    outcomes = run_at_once(
        lambda: confusable_add(variant="徽芯", canonical="微信", kind=ConfusableKind.SHAPE),
        lambda: confusable_add(variant="徽芯", canonical="微信", kind=ConfusableKind.HOMOPHONE),
    )
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert Confusable.objects.filter(variant="徽芯").count() == 1


def test_the_try_page_shows_how_the_matcher_reads_a_text(client, reviewer):
    client.force_login(reviewer)
    changelist = client.get(reverse("admin:reviews_confusable_changelist")).content.decode()
    url = reverse("admin:reviews_confusable_try")
    assert url in changelist
    assert client.get(url).status_code == 200
    body = client.get(url, {"text": "售后加我 wei xin 或扣扣：${shop_name}"}).content.decode()
    assert "售后加我微信或qq□" in body  # spaces and the colon dropped, variants replaced, the token opaque
    assert body.count("TPL-OFFSITE") >= 2
    assert "没有词库、链接或号码问题" in client.get(url, {"text": "全场包邮，欢迎选购"}).content.decode()


def test_the_try_page_needs_the_view_permission(client, alice):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    client.force_login(alice)
    assert client.get(reverse("admin:reviews_confusable_try"), {"text": "薇信"}).status_code == 403
