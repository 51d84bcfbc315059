"""What each member of a shop may do: the shop roles (店主, 运营, 只读) and their capabilities.

Services check these (``require_capability``), so the portal, the open API and any future caller
get the same answer; views only use them to hide buttons and to refuse a form page early. The
platform's own staff roles (reviewers) are ``smsmarketing.roles``.

- 店主 (owner): everything, including members, API keys and webhooks, activation, recharge,
  the low-balance threshold and the spending limits.
- 运营 (operator): customers, segments, orders, templates, the signature, short links, coupons,
  opt-outs and campaigns (create, dry run, test SMS, schedule, cancel, stop).
- 只读 (analyst): reads and exports only.

An API key acts as the member who created it (``campaigns.api.auth.api_actor``): its scopes narrow
what it may do, and its creator's role at the time of each request bounds it.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext as _

from smsmarketing.errors import NotShopMember, SmsError
from smsmarketing.models import Membership, Shop

Role = Membership.Role


class Capability(StrEnum):
    READ = "read"  # every page and export of the shop
    OPERATE = "operate"  # customers, segments, orders, templates, signature, links, coupons, campaigns
    BILLING = "billing"  # activation, recharge, low-balance threshold, spending limits
    MEMBERS = "members"  # invite, change roles, remove
    INTEGRATIONS = "integrations"  # API keys and webhooks


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.OWNER: frozenset(Capability),
    Role.OPERATOR: frozenset({Capability.READ, Capability.OPERATE}),
    Role.ANALYST: frozenset({Capability.READ}),
}

# The least role that holds each capability: what a refusal tells the member to ask for.
ROLE_NEEDED: dict[Capability, str] = {
    Capability.READ: Role.ANALYST,
    Capability.OPERATE: Role.OPERATOR,
    Capability.BILLING: Role.OWNER,
    Capability.MEMBERS: Role.OWNER,
    Capability.INTEGRATIONS: Role.OWNER,
}

ROLE_REQUIRED = "ROLE-REQUIRED"

__all__ = [
    "Capability",
    "NotShopMember",
    "ROLE_CAPABILITIES",
    "ROLE_NEEDED",
    "ROLE_REQUIRED",
    "Role",
    "RoleRequired",
    "refusal_message",
    "require_capability",
    "role_allows",
    "shop_role",
]


class RoleRequired(SmsError):
    """The member's role does not allow this; the message names the role needed."""

    rule = ROLE_REQUIRED


def role_allows(role: str | None, capability: Capability) -> bool:
    return capability in ROLE_CAPABILITIES.get(role or "", frozenset())


def shop_role(*, shop: Shop | int, user: AbstractBaseUser | None) -> str | None:
    """The user's role in the shop, or None for a non-member (one query)."""
    if user is None or not user.is_authenticated:
        return None
    shop_id = shop if isinstance(shop, int) else shop.pk
    return Membership.objects.filter(shop_id=shop_id, user=user).values_list("role", flat=True).first()


def refusal_message(*, role: str | None, capability: Capability) -> str:
    needed = Role(ROLE_NEEDED[capability]).label
    if role is None:
        return _("您不是该店铺的成员。")
    if ROLE_NEEDED[capability] == Role.OWNER:
        return _("此操作需要「{needed}」角色，您的角色是「{current}」。请联系店主操作。").format(
            needed=needed, current=Role(role).label
        )
    return _("此操作需要「{needed}」或「店主」角色，您的角色是「{current}」。请联系店主调整角色。").format(
        needed=needed, current=Role(role).label
    )


def require_capability(*, shop: Shop | int, user: AbstractBaseUser | None, capability: Capability) -> str:
    """Refuse (``RoleRequired``, or ``NotShopMember``) unless the user's role allows ``capability``.

    Returns the role. Call it first thing in a service entry point, before any write.
    """
    role = shop_role(shop=shop, user=user)
    if role is None:
        raise NotShopMember(refusal_message(role=None, capability=capability))
    if not role_allows(role, capability):
        raise RoleRequired(refusal_message(role=role, capability=capability))
    return role
