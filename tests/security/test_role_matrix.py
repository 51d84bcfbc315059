"""The role matrix: every merchant page and every service entry point × 店主/运营/只读 (and an
outsider for the services), allowed or refused as ``tests/security/role_cases.py`` specifies.

A refusal is a 403 page (or ``RoleRequired``) naming the role needed, with no row of any watched
table changed. The pages are found by walking the URL resolver and the entry points by
introspecting the services packages, so a new one without a rule fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from campaigns.services.campaigns import campaign_create
from smsmarketing.errors import NotShopMember, SmsError
from smsmarketing.models import Membership, Notification
from smsmarketing.permissions import ROLE_NEEDED, RoleRequired, role_allows
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING
from tests.factories import make_user
from tests.security.conftest import snapshot
from tests.security.role_cases import (
    ACTOR_ARGUMENTS,
    EXEMPT,
    ROUTE_ROLES,
    SERVICE_CASES,
    SERVICE_PACKAGES,
)
from tests.security.test_permission_matrix import POST_BODY, body_of, merchant_routes, url_for

pytestmark = pytest.mark.django_db

Role = Membership.Role
ROLES = [Role.OWNER, Role.OPERATOR, Role.ANALYST]


def needed_text(capability) -> str:
    """The words of a refusal that name the role needed (``refusal_message``)."""
    return f"此操作需要「{Role(ROLE_NEEDED[capability]).label}」"


def member(shop, role: str, username: str):
    user = make_user(username)
    Membership.objects.create(user=user, shop=shop, role=role)
    return user


# --- the registry is complete -----------------------------------------------------------------


def service_entry_points() -> dict[str, list[str]]:
    """Every public function of the services packages taking user/by/actor: name -> its arguments."""
    found: dict[str, list[str]] = {}
    for package_name in SERVICE_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package_name}.{info.name}")
            for name, function in vars(module).items():
                if name.startswith("_") or not inspect.isfunction(function):
                    continue
                if function.__module__ != module.__name__:
                    continue  # imported from elsewhere: judged where it is defined
                actors = [p for p in inspect.signature(function).parameters if p in ACTOR_ARGUMENTS]
                if actors:
                    found[f"{module.__name__}.{name}"] = actors
    return found


def test_it_has_a_rule_for_every_service_taking_the_acting_member():
    entry_points = service_entry_points()
    cases = {case.name for case in SERVICE_CASES}
    missing = sorted(set(entry_points) - cases - set(EXEMPT))
    assert not missing, (
        "service entry points taking user/by/actor without a role case or an exemption in "
        f"tests/security/role_cases.py: {missing}"
    )
    assert not cases & set(EXEMPT), "a service is both a case and exempt"
    stale = sorted((cases | set(EXEMPT)) - set(entry_points))
    assert not stale, f"role_cases.py names services that do not exist (or take no user): {stale}"
    assert len(cases) >= 30


def test_it_has_a_rule_for_every_merchant_page():
    names = {name for name, _keywords in merchant_routes()}
    missing = sorted(names - set(ROUTE_ROLES))
    assert not missing, f"merchant URLs without a rule in role_cases.ROUTE_ROLES: {missing}"
    assert not sorted(set(ROUTE_ROLES) - names), "ROUTE_ROLES names URLs that do not exist"


# --- the portal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_it_allows_or_refuses_every_page_for_the_role(client, world, role):
    user = member(world.alice_shop, role, f"m-{role}")
    client.force_login(user)
    routes = [(name, keywords, *ROUTE_ROLES[name]) for name, keywords in merchant_routes()]
    # The member's own notification, for the inbox's mark-read URL (World.ids has alice's).
    own = Notification.objects.create(
        shop=world.alice_shop,
        recipient=user,
        kind=Notification.Kind.CAMPAIGN_FINISHED,
        event_key=f"role-matrix:{role}",
        title="营销任务完成",
        created_at=timezone.now(),
    )
    ids = {**world.ids(), "notification_id": own.pk}
    wrong: list[str] = []

    for name, keywords, get_needs, _post_needs in routes:
        url = url_for(name, keywords, ids)
        response = client.get(url)
        if role_allows(role, get_needs):
            if response.status_code in (403, 404) or response.status_code >= 500:
                wrong.append(f"GET {name}: {response.status_code}, expected allowed")
        elif response.status_code != 403 or needed_text(get_needs) not in body_of(response):
            wrong.append(f"GET {name}: {response.status_code}, expected 403 naming the role")

    before = snapshot()
    for name, keywords, _get_needs, post_needs in routes:
        if role_allows(role, post_needs):
            continue
        url = url_for(name, keywords, ids)
        response = client.post(url, POST_BODY)
        if response.status_code != 403 or needed_text(post_needs) not in body_of(response):
            wrong.append(f"POST {name}: {response.status_code}, expected 403 naming the role")
    assert snapshot() == before, "a refused POST changed something"

    # The permitted POSTs last (they act: a deleted endpoint's later pages may 404).
    for name, keywords, _get_needs, post_needs in routes:
        if not role_allows(role, post_needs):
            continue
        url = url_for(name, keywords, ids)
        response = client.post(url, POST_BODY)
        if response.status_code == 403 or response.status_code >= 500:
            wrong.append(f"POST {name}: {response.status_code}, expected allowed")
    assert not wrong, "\n".join(wrong)


def test_it_hides_the_action_buttons_from_an_analyst_with_a_hint(client, world):
    user = member(world.alice_shop, Role.ANALYST, "m-analyst")
    client.force_login(user)
    shop_id = world.alice_shop.pk
    for name, action in [
        ("campaigns:list", reverse("campaigns:new", args=[shop_id])),
        ("campaigns:segments", reverse("campaigns:segments", args=[shop_id])),
        ("portal:account", reverse("portal:account_recharge", args=[shop_id])),
        ("campaigns:customers", reverse("campaigns:customers_import", args=[shop_id])),
    ]:
        page = client.get(reverse(name, args=[shop_id]))
        html = page.content.decode()
        assert page.status_code == 200, name
        assert f'action="{action}"' not in html and f'href="{action}"' not in html, name
        assert "只读成员不能" in html or "只有店主可以" in html, f"{name}: no hint for the analyst"


# --- the services -------------------------------------------------------------------------------


class _Rollback(Exception):
    """Undo one case's writes (its savepoint), so the next case starts from the same world."""


def run_case(case, world, user):
    """(the refusal or None, rows before the call, rows after it) inside a savepoint rolled back."""
    outcome: dict = {}
    try:
        with transaction.atomic():
            context = case.setup(world)
            outcome["before"] = snapshot()
            try:
                case.call(world, context, user)
                outcome["error"] = None
            except SmsError as exc:
                outcome["error"] = exc
            outcome["after"] = snapshot()
            raise _Rollback
    except _Rollback:
        pass
    return outcome["error"], outcome["before"], outcome["after"]


@pytest.mark.parametrize("role", [*ROLES, "outsider"])
def test_it_allows_or_refuses_every_service_for_the_role(world, role, pipeline_settings):
    if role == "outsider":
        user = world.bob_shop.memberships.get().user  # bob: an owner, of another shop
    else:
        user = member(world.alice_shop, role, f"m-{role}")
    wrong: list[str] = []
    with time_machine.travel(MORNING + timedelta(hours=1), tick=False):
        for case in SERVICE_CASES:
            error, before, after = run_case(case, world, user)
            allowed = role != "outsider" and role_allows(role, case.capability)
            if allowed:
                if error is not None and (
                    isinstance(error, (RoleRequired, NotShopMember)) or error.rule not in case.ok_rules
                ):
                    wrong.append(f"{case.name}: refused {error.rule} ({error.message}), expected allowed")
            elif role == "outsider":
                if not isinstance(error, NotShopMember):
                    wrong.append(f"{case.name}: {error!r}, expected NotShopMember")
            elif not isinstance(error, RoleRequired) or needed_text(case.capability) not in error.message:
                wrong.append(f"{case.name}: {error!r}, expected RoleRequired naming the role")
            if not allowed and after != before:
                changed = [label for label in before if before[label] != after.get(label)]
                wrong.append(f"{case.name}: refused but wrote {changed}")
    assert not wrong, "\n".join(wrong)


def test_it_shows_an_analyst_a_draft_without_dry_run_schedule_or_test_sms(client, world, alice):
    draft = campaign_create(
        shop=world.alice_shop, user=alice, kind="marketing", name="草稿", text=MARKETING_TEXT
    )
    detail = reverse("campaigns:detail", args=[world.alice_shop.pk, draft.pk])
    client.force_login(member(world.alice_shop, Role.ANALYST, "m-analyst"))
    html = client.get(detail).content.decode()
    assert "只读成员不能试算、排期、发送测试短信或取消任务" in html
    for action in ("campaigns:dry_run", "campaigns:schedule", "campaigns:send_test", "campaigns:cancel"):
        assert reverse(action, args=[world.alice_shop.pk, draft.pk]) not in html, action
    client.force_login(alice)
    html = client.get(detail).content.decode()
    assert "只读成员不能" not in html
    assert reverse("campaigns:dry_run", args=[world.alice_shop.pk, draft.pk]) in html
