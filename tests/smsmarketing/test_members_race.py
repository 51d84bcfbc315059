"""The last-owner rule under concurrency: real threads, each with its own PostgreSQL connection.

Two owners, eight threads released together by a barrier, each trying to remove (or demote) one
of the two owners, acting as one of them. Without the shop row lock each request would see
"another owner remains" and both could go; with it, exactly one owner always remains and the
audit holds exactly one row per change that happened.
"""

from __future__ import annotations

import pytest

from smsmarketing.errors import SmsError
from smsmarketing.models import Membership, MembershipEvent
from smsmarketing.permissions import NotShopMember, RoleRequired
from smsmarketing.services.members import LastOwner, MemberGone, member_remove, member_role_change
from tests.factories import make_shop, make_user
from tests.smsmarketing.test_account_concurrency import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
ROUNDS = 3


def two_owner_shop(round_no: int):
    first, second = make_user(f"ann{round_no}"), make_user(f"ben{round_no}")
    shop = make_shop(f"双店主{round_no}", owner=first)
    Membership.objects.create(shop=shop, user=second, role=Membership.Role.OWNER)
    return shop, [first, second]


def assert_refusals_are_the_expected_ones(results: list[object]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            # Refused by the rule, or because the actor/target was changed a moment before.
            assert isinstance(result, LastOwner | MemberGone | RoleRequired | NotShopMember), repr(result)
            assert isinstance(result, SmsError) and result.message


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_it_keeps_one_owner_when_eight_threads_remove_the_two_owners_at_once(round_no):
    shop, owners = two_owner_shop(round_no)
    memberships = [Membership.objects.get(shop=shop, user=u).pk for u in owners]

    def work(i: int) -> object:
        # Thread i acts as owner i % 2 and removes owner (i // 2) % 2: self-removals and
        # removals of the other owner, all at once.
        return member_remove(shop=shop.pk, user=owners[i % 2], member=memberships[(i // 2) % 2])

    results = run_in_threads(THREADS, work)
    assert_refusals_are_the_expected_ones(results)
    left = list(Membership.objects.filter(shop=shop).values_list("role", flat=True))
    assert left == ["owner"]
    removed = MembershipEvent.objects.filter(shop=shop, action="removed")
    assert removed.count() == 1 == sum(not isinstance(r, BaseException) for r in results)
    gone = removed.get()
    assert gone.old_role == "owner" and gone.member_id in {u.pk for u in owners}
    assert not Membership.objects.filter(shop=shop, user_id=gone.member_id).exists()


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_it_keeps_one_owner_when_eight_threads_demote_the_two_owners_at_once(round_no):
    shop, owners = two_owner_shop(round_no)
    memberships = [Membership.objects.get(shop=shop, user=u).pk for u in owners]

    def work(i: int) -> object:
        role = "operator" if i % 4 < 2 else "analyst"
        return member_role_change(
            shop=shop.pk, user=owners[i % 2], member=memberships[(i // 2) % 2], role=role
        )

    results = run_in_threads(THREADS, work)
    assert_refusals_are_the_expected_ones(results)
    roles = sorted(Membership.objects.filter(shop=shop).values_list("role", flat=True))
    assert roles.count("owner") == 1 and len(roles) == 2
    # Every change that happened is audited once, and the audit replays to the final roles.
    changes = list(
        MembershipEvent.objects.filter(shop=shop)
        .order_by("id")
        .values_list("member_id", "old_role", "new_role")
    )
    replay = {u.pk: "owner" for u in owners}
    for member_id, old, new in changes:
        assert replay[member_id] == old
        replay[member_id] = new
    assert replay == dict(Membership.objects.filter(shop=shop).values_list("user_id", "role"))
