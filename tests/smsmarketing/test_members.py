"""Shop members: invite (or create), change roles, remove; the last-owner rule; the audit; the page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import strip_tags

from campaigns.models.api import ApiKey
from campaigns.services.api_keys import api_key_authenticate, api_key_create
from smsmarketing.models import Membership, MembershipEvent
from smsmarketing.permissions import NotShopMember, RoleRequired
from smsmarketing.services.members import (
    AlreadyMember,
    InvalidPassword,
    LastOwner,
    MemberError,
    MemberGone,
    UnknownUsername,
    UsernameTaken,
    member_invite,
    member_remove,
    member_role_change,
)
from tests.factories import make_user

User = get_user_model()
GOOD_PASSWORD = "Xq7-teal-harbour-91"


def membership(shop, user) -> Membership:
    return Membership.objects.get(shop=shop, user=user)


def events(shop) -> list[tuple]:
    return list(
        MembershipEvent.objects.filter(shop=shop)
        .order_by("id")
        .values_list("action", "member_username", "old_role", "new_role", "actor__username")
    )


@pytest.fixture
def dave(db):
    return make_user("dave")


@pytest.fixture
def operator(alice_shop, alice):
    member = member_invite(shop=alice_shop, user=alice, username="olga", role="operator", create=True,
                           password=GOOD_PASSWORD)  # fmt: skip
    return member.user


# --- invite ----------------------------------------------------------------------


def test_it_invites_an_existing_user_by_username_and_audits_it(alice, alice_shop, dave):
    member = member_invite(shop=alice_shop, user=alice, username=" dave ", role="analyst")
    assert (member.user, member.role) == (dave, "analyst")
    assert events(alice_shop) == [("invited", "dave", "", "analyst", "alice")]


def test_it_refuses_an_unknown_username_unless_the_owner_creates_the_user(alice, alice_shop):
    with pytest.raises(UnknownUsername) as refused:
        member_invite(shop=alice_shop, user=alice, username="nobody", role="operator")
    assert "没有用户名为“nobody”的账号" in refused.value.message and "新建账号" in refused.value.message
    assert not User.objects.filter(username="nobody").exists()
    member = member_invite(shop=alice_shop, user=alice, username="nobody", role="operator", create=True,
                           password=GOOD_PASSWORD)  # fmt: skip
    assert member.user.check_password(GOOD_PASSWORD)
    assert events(alice_shop) == [("created", "nobody", "", "operator", "alice")]


def test_it_checks_the_initial_password_with_djangos_validators_and_writes_nothing(alice, alice_shop):
    for password in ["", "123", "12345678", "newbie12"]:
        with pytest.raises(InvalidPassword) as refused:
            member_invite(shop=alice_shop, user=alice, username="newbie", role="operator", create=True,
                          password=password)  # fmt: skip
        assert "密码" in refused.value.message
    assert not User.objects.filter(username="newbie").exists()
    assert not MembershipEvent.objects.exists()


def test_it_refuses_to_create_a_user_whose_name_is_taken_or_invalid(alice, alice_shop, dave):
    with pytest.raises(UsernameTaken):
        member_invite(shop=alice_shop, user=alice, username="dave", role="operator", create=True,
                      password=GOOD_PASSWORD)  # fmt: skip
    with pytest.raises(MemberError) as refused:
        member_invite(shop=alice_shop, user=alice, username="bad name!", role="operator", create=True,
                      password=GOOD_PASSWORD)  # fmt: skip
    assert refused.value.rule == "USERNAME-INVALID"
    assert not Membership.objects.filter(user=dave).exists()
    assert not User.objects.filter(username="bad name!").exists()


def test_it_refuses_a_duplicate_invite_clearly(alice, alice_shop, dave):
    member_invite(shop=alice_shop, user=alice, username="dave", role="analyst")
    with pytest.raises(AlreadyMember) as refused:
        member_invite(shop=alice_shop, user=alice, username="dave", role="operator")
    assert "已经是本店铺的成员" in refused.value.message
    assert membership(alice_shop, dave).role == "analyst"
    assert len(events(alice_shop)) == 1


def test_it_refuses_an_unknown_role(alice, alice_shop, dave):
    with pytest.raises(MemberError) as refused:
        member_invite(shop=alice_shop, user=alice, username="dave", role="staff")
    assert refused.value.rule == "ROLE-INVALID" and "店主" in refused.value.message
    assert not Membership.objects.filter(user=dave).exists()


# --- refusals naming the role needed ------------------------------------------------


def test_operators_and_analysts_are_refused_every_member_change_naming_the_owner_role(
    alice, alice_shop, operator, dave
):
    analyst = member_invite(shop=alice_shop, user=alice, username="dave", role="analyst")
    before = events(alice_shop)
    for actor, label in [(operator, "运营"), (dave, "只读")]:
        calls = [
            (member_invite, {"username": "alice", "role": "operator"}),
            (member_role_change, {"member": analyst, "role": "owner"}),
            (member_remove, {"member": membership(alice_shop, alice)}),
        ]
        for service, kwargs in calls:
            with pytest.raises(RoleRequired) as refused:
                service(shop=alice_shop, user=actor, **kwargs)
            message = refused.value.message
            assert refused.value.rule == "ROLE-REQUIRED"
            assert "需要「店主」" in message and f"您的角色是「{label}」" in message
    assert events(alice_shop) == before
    assert membership(alice_shop, dave).role == "analyst"
    assert membership(alice_shop, alice).role == "owner"


def test_another_shops_owner_is_not_a_member(alice_shop, bob, bob_shop, alice):
    with pytest.raises(NotShopMember):
        member_remove(shop=alice_shop, user=bob, member=membership(alice_shop, alice))
    # A membership of another shop is not found through this shop.
    with pytest.raises(MemberGone):
        member_remove(shop=bob_shop, user=bob, member=membership(alice_shop, alice))
    assert membership(alice_shop, alice)


# --- roles and the last owner -------------------------------------------------------


def test_it_changes_a_role_and_audits_old_and_new(alice, alice_shop, operator):
    member_role_change(shop=alice_shop, user=alice, member=membership(alice_shop, operator), role="analyst")
    assert membership(alice_shop, operator).role == "analyst"
    assert events(alice_shop)[-1] == ("role_changed", "olga", "operator", "analyst", "alice")
    # The same role again changes and records nothing.
    member_role_change(shop=alice_shop, user=alice, member=membership(alice_shop, operator), role="analyst")
    assert len(events(alice_shop)) == 2


def test_it_refuses_to_demote_or_remove_the_last_owner(alice, alice_shop, operator):
    own = membership(alice_shop, alice)
    with pytest.raises(LastOwner) as refused:
        member_role_change(shop=alice_shop, user=alice, member=own, role="operator")
    assert refused.value.rule == "LAST-OWNER" and "唯一的店主" in refused.value.message
    with pytest.raises(LastOwner) as refused:
        member_remove(shop=alice_shop, user=alice, member=own)
    assert "您是本店铺唯一的店主，不能退出" in refused.value.message
    assert membership(alice_shop, alice).role == "owner"
    assert [e[0] for e in events(alice_shop)] == ["created"]


def test_an_owner_may_step_down_or_leave_once_another_owner_remains(alice, alice_shop, operator):
    member_role_change(shop=alice_shop, user=alice, member=membership(alice_shop, operator), role="owner")
    member_role_change(shop=alice_shop, user=alice, member=membership(alice_shop, alice), role="analyst")
    assert membership(alice_shop, alice).role == "analyst"
    # Alice is an analyst now: she can no longer manage members; olga can, and removes her.
    with pytest.raises(RoleRequired):
        member_remove(shop=alice_shop, user=alice, member=membership(alice_shop, operator))
    member_remove(shop=alice_shop, user=operator, member=membership(alice_shop, alice))
    assert list(Membership.objects.filter(shop=alice_shop).values_list("user__username", "role")) == [
        ("olga", "owner")
    ]
    assert [e[0] for e in events(alice_shop)] == ["created", "role_changed", "role_changed", "removed"]
    assert events(alice_shop)[-1] == ("removed", "alice", "analyst", "", "olga")


def test_removing_a_member_revokes_their_api_keys_in_the_same_step(alice, alice_shop, operator):
    member_role_change(shop=alice_shop, user=alice, member=membership(alice_shop, operator), role="owner")
    _key, token = api_key_create(shop=alice_shop, user=operator, name="奥尔加ERP", scopes=["orders"])
    kept, kept_token = api_key_create(shop=alice_shop, user=alice, name="爱丽丝ERP", scopes=["orders"])
    effects = member_remove(shop=alice_shop, user=alice, member=membership(alice_shop, operator))
    assert effects and "已吊销该成员创建的 1 个 API 密钥" in effects[0] and "奥尔加ERP" in effects[0]
    revoked = ApiKey.objects.get(name="奥尔加ERP")
    assert revoked.revoked_at is not None and revoked.revoked_by == alice
    assert api_key_authenticate(token=token) is None
    # Re-invited, the member does not bring the old key back.
    member_invite(shop=alice_shop, user=alice, username="olga", role="owner")
    assert api_key_authenticate(token=token) is None
    assert api_key_authenticate(token=kept_token) == kept


def test_the_audit_keeps_the_username_after_the_user_is_deleted(alice, alice_shop, dave):
    member_invite(shop=alice_shop, user=alice, username="dave", role="analyst")
    dave.delete()
    event = MembershipEvent.objects.get(shop=alice_shop)
    assert (event.member, event.member_username) == (None, "dave")


# --- pages ---------------------------------------------------------------------------


def test_the_members_page_lists_members_and_recent_changes_for_the_owner(client, alice, alice_shop, operator):
    client.force_login(alice)
    page = client.get(reverse("portal:members", args=[alice_shop.pk])).content.decode()
    assert "成员管理" in page and "olga" in page and "运营" in page
    assert 'id="member-invite"' in page and 'id="invite-member"' in page
    assert "创建账号并加入" in page  # the audit row of olga's creation


def test_operators_and_analysts_see_the_list_read_only_with_a_note(client, alice, alice_shop, operator):
    client.force_login(operator)
    response = client.get(reverse("portal:members", args=[alice_shop.pk]))
    page = response.content.decode()
    assert response.status_code == 200 and "alice" in page
    assert 'id="members-owner-only"' in page and "仅限「店主」" in page
    assert 'id="member-invite"' not in page and "member_role" not in page and "/remove/" not in page
    # Posting anyway: the 403 page names the role needed; nothing changes.
    own = membership(alice_shop, operator)
    response = client.post(reverse("portal:member_role", args=[alice_shop.pk, own.pk]), {"role": "owner"})
    assert (
        response.status_code == 403
        and "此操作需要「店主」角色，您的角色是「运营」" in response.content.decode()
    )
    response = client.post(
        reverse("portal:member_invite", args=[alice_shop.pk]), {"username": "x", "role": "owner"}
    )
    assert response.status_code == 403
    assert membership(alice_shop, operator).role == "operator"


def test_the_owner_creates_a_member_on_the_page_who_can_then_log_in(client, alice, alice_shop):
    client.force_login(alice)
    url = reverse("portal:member_invite", args=[alice_shop.pk])
    response = client.post(url, {"username": "pete", "role": "operator", "create": "on", "password": "123"})
    assert response.status_code == 400 and "初始密码不符合要求" in response.content.decode()
    response = client.post(
        url, {"username": "pete", "role": "operator", "create": "on", "password": GOOD_PASSWORD}
    )
    assert response.status_code == 302
    assert membership(alice_shop, User.objects.get(username="pete")).role == "operator"
    client.logout()
    response = client.post(reverse("login"), {"username": "pete", "password": GOOD_PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("portal:dashboard", args=[alice_shop.pk])).status_code == 200


def test_the_page_shows_an_unknown_username_error_in_chinese(client, alice, alice_shop):
    client.force_login(alice)
    response = client.post(
        reverse("portal:member_invite", args=[alice_shop.pk]), {"username": "ghost", "role": "analyst"}
    )
    assert response.status_code == 400 and "没有用户名为“ghost”的账号" in response.content.decode()
    assert not MembershipEvent.objects.exists()


def test_the_role_form_changes_a_role_and_refuses_the_last_owner(client, alice, alice_shop, operator):
    client.force_login(alice)
    url = reverse("portal:member_role", args=[alice_shop.pk, membership(alice_shop, operator).pk])
    response = client.post(url, {"role": "analyst"}, follow=True)
    assert "“olga”的角色现在是「只读」" in strip_tags(response.content.decode())
    own = reverse("portal:member_role", args=[alice_shop.pk, membership(alice_shop, alice).pk])
    response = client.post(own, {"role": "operator"}, follow=True)
    assert "唯一的店主" in response.content.decode()
    assert membership(alice_shop, alice).role == "owner"


def test_removal_shows_its_effects_first_then_removes_on_confirmation(client, alice, alice_shop, operator):
    member_role_change(shop=alice_shop, user=alice, member=membership(alice_shop, operator), role="owner")
    api_key_create(shop=alice_shop, user=operator, name="奥尔加ERP", scopes=["orders"])
    member_role_change(shop=alice_shop, user=alice, member=membership(alice_shop, operator), role="operator")
    client.force_login(alice)
    url = reverse("portal:member_remove", args=[alice_shop.pk, membership(alice_shop, operator).pk])
    page = client.get(url).content.decode()
    assert (
        "不可撤销" in page
        and "将被立即吊销" in page
        and "奥尔加ERP" in page
        and 'id="confirm-remove"' in page
    )
    assert Membership.objects.filter(shop=alice_shop, user=operator).exists()
    response = client.post(url, follow=True)
    assert "已将“olga”移出本店铺" in strip_tags(response.content.decode())
    assert not Membership.objects.filter(shop=alice_shop, user=operator).exists()
    assert client.get(url).status_code == 404  # gone


def test_the_last_owner_sees_why_they_cannot_leave(client, alice, alice_shop):
    client.force_login(alice)
    url = reverse("portal:member_remove", args=[alice_shop.pk, membership(alice_shop, alice).pk])
    page = client.get(url).content.decode()
    assert 'id="last-owner"' in page and 'id="confirm-remove"' not in page
    response = client.post(url)
    assert response.status_code == 400 and "唯一的店主" in response.content.decode()
    assert membership(alice_shop, alice).role == "owner"


def test_another_shops_member_ids_are_not_found(client, alice, alice_shop, bob, bob_shop):
    client.force_login(bob)
    url = reverse("portal:member_remove", args=[bob_shop.pk, membership(alice_shop, alice).pk])
    assert client.get(url).status_code == 404
    assert client.get(reverse("portal:members", args=[alice_shop.pk])).status_code == 404


def test_the_nav_links_the_members_page_for_every_member(client, alice, alice_shop, dave):
    member_invite(shop=alice_shop, user=alice, username="dave", role="analyst")
    client.force_login(dave)
    page = client.get(reverse("portal:dashboard", args=[alice_shop.pk])).content.decode()
    assert reverse("portal:members", args=[alice_shop.pk]) in page and "成员管理" in page
