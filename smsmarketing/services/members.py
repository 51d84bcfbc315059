"""Writes of a shop's members (成员管理): invite, change a role, remove.

Every entry point needs ``Capability.MEMBERS`` (店主 only) and writes one ``MembershipEvent`` in
the same transaction as the change, so the audit never misses or invents a change.

The last-owner rule (``LAST-OWNER``): a shop always keeps at least one 店主. Race: two owners
remove (or demote) each other at the same moment; each request alone sees another owner left,
both commit, and the shop has none. Guard, by construction: every change first locks the shop's
row (``SELECT ... FOR NO KEY UPDATE``, always the shop before any membership row), then re-reads
the acting member's role and the target membership, then counts the other owners. Changes of one
shop's members therefore run one after another, and each sees the previous one's result. (No-key
lock: inserts of other tables referencing the shop — campaigns, messages — take KEY SHARE locks
on it and are not held up by a member change.)

API keys of a removed member: a key acts as its creator (``campaigns.api.auth.api_actor``), so the
removal revokes the member's active keys of the shop in the same transaction, through the
``member_removed`` signal the campaigns app handles (this layer cannot import campaigns). The
confirmation page lists them first (``member_removal_effects``).
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from smsmarketing.errors import SmsError
from smsmarketing.models import Membership, MembershipEvent, Shop
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.signals import member_removal_effects, member_removed

logger = logging.getLogger(__name__)

Role = Membership.Role
LAST_OWNER = "LAST-OWNER"


class LastOwner(SmsError):
    """The change would leave the shop without a 店主."""

    rule = LAST_OWNER


class MemberError(SmsError):
    """A member change the owner asked for cannot be done (the message says why)."""

    rule = "MEMBER-INVALID"


class UnknownUsername(MemberError):
    rule = "UNKNOWN-USERNAME"


class UsernameTaken(MemberError):
    rule = "USERNAME-TAKEN"


class AlreadyMember(MemberError):
    rule = "ALREADY-MEMBER"


class MemberGone(MemberError):
    rule = "MEMBER-GONE"


class InvalidPassword(MemberError):
    rule = "PASSWORD-INVALID"


def _check_role(role: object) -> str:
    if role not in Role.values:
        labels = "、".join(str(label) for label in Role.labels)
        raise MemberError(_("请选择角色：{labels}。").format(labels=labels), rule="ROLE-INVALID")
    return str(role)


def _lock_shop(*, shop: Shop | int, user: AbstractBaseUser | None) -> int:
    """Lock the shop's row (see the module's docstring), then re-check the actor's role under
    the lock: a concurrent change may just have removed or demoted them."""
    shop_id = shop if isinstance(shop, int) else shop.pk
    Shop.objects.select_for_update(no_key=True).filter(pk=shop_id).values_list("pk", flat=True).first()
    require_capability(shop=shop_id, user=user, capability=Capability.MEMBERS)
    return shop_id


def _locked_member(*, shop_id: int, member: Membership | int) -> Membership:
    member_id = member if isinstance(member, int) else member.pk
    found = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(shop_id=shop_id, pk=member_id)
        .first()
    )
    if found is None:
        raise MemberGone(_("该成员已不在本店铺（可能已被其他店主移除），请刷新页面。"))
    return found


def _other_owners(*, shop_id: int, member: Membership) -> int:
    return Membership.objects.filter(shop_id=shop_id, role=Role.OWNER).exclude(pk=member.pk).count()


def _event(
    *, shop_id: int, actor, member: Membership, action: str, old_role: str = "", new_role: str = ""
) -> None:
    MembershipEvent.objects.create(
        shop_id=shop_id,
        actor=actor,
        member=member.user,
        member_username=member.user.get_username(),
        action=action,
        old_role=old_role,
        new_role=new_role,
    )


def member_invite(
    *,
    shop: Shop | int,
    user: AbstractBaseUser | None,
    username: str,
    role: str,
    create: bool = False,
    password: str | None = None,
) -> Membership:
    """Add the user called ``username`` to the shop with ``role``.

    An unknown username is refused unless ``create``: then the user is created with the initial
    ``password`` (checked by Django's password validators) in the same transaction."""
    require_capability(shop=shop, user=user, capability=Capability.MEMBERS)
    role = _check_role(role)
    username = (username or "").strip()
    if not username:
        raise MemberError(_("请填写要邀请的用户名。"), rule="USERNAME-REQUIRED")
    User = get_user_model()
    with transaction.atomic():
        shop_id = _lock_shop(shop=shop, user=user)
        existing = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if create:
            if existing is not None:
                raise UsernameTaken(
                    _(
                        "用户名“{username}”已被使用，不能新建；如果就是此人，请不勾选“新建账号”直接邀请。"
                    ).format(username=username)
                )
            member_user = _create_user(username=username, password=password)
            action = MembershipEvent.Action.CREATED
        else:
            if existing is None or not existing.is_active:
                raise UnknownUsername(
                    _(
                        "没有用户名为“{username}”的账号。请核对用户名，或勾选“新建账号”并设置初始密码。"
                    ).format(username=username)
                )
            member_user = existing
            action = MembershipEvent.Action.INVITED
        try:
            # Savepoint: a duplicate (the unique constraint, also against a concurrent invite of
            # the same person) must not break the caller's transaction.
            with transaction.atomic():
                membership = Membership.objects.create(shop_id=shop_id, user=member_user, role=role)
        except IntegrityError:
            raise AlreadyMember(
                _("“{username}”已经是本店铺的成员；如需调整权限，请修改其角色。").format(username=username)
            ) from None
        _event(shop_id=shop_id, actor=user, member=membership, action=action, new_role=role)
    logger.info("shop %s: user %s %s as %s by %s", shop_id, member_user.pk, action, role, user.pk)
    return membership


def _create_user(*, username: str, password: str | None) -> AbstractBaseUser:
    User = get_user_model()
    candidate = User(**{User.USERNAME_FIELD: username})
    try:
        candidate.clean_fields(exclude=[f.name for f in User._meta.fields if f.name != User.USERNAME_FIELD])
    except ValidationError as exc:
        raise MemberError(
            _("用户名“{username}”不可用：{reason}").format(username=username, reason=" ".join(exc.messages)),
            rule="USERNAME-INVALID",
        ) from None
    if not password:
        raise InvalidPassword(_("新建账号需要设置初始密码。"))
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        reason = " ".join(exc.messages)
        raise InvalidPassword(_("初始密码不符合要求：{reason}").format(reason=reason)) from None
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, password=password)
    except IntegrityError:  # created by someone else a moment ago
        raise UsernameTaken(_("用户名“{username}”已被使用，不能新建。").format(username=username)) from None


def member_role_change(
    *, shop: Shop | int, user: AbstractBaseUser | None, member: Membership | int, role: str
) -> Membership:
    """Give ``member`` (a membership of the shop) ``role``. Demoting the last 店主 is refused
    (``LAST-OWNER``). The same role again changes nothing and records nothing."""
    require_capability(shop=shop, user=user, capability=Capability.MEMBERS)
    role = _check_role(role)
    with transaction.atomic():
        shop_id = _lock_shop(shop=shop, user=user)
        target = _locked_member(shop_id=shop_id, member=member)
        old_role = target.role
        if old_role == role:
            return target
        if old_role == Role.OWNER and _other_owners(shop_id=shop_id, member=target) == 0:
            raise LastOwner(
                _("“{username}”是本店铺唯一的店主，不能改为「{role}」。请先把另一位成员设为店主。").format(
                    username=target.user.get_username(), role=Role(role).label
                )
            )
        target.role = role
        target.save(update_fields=["role"])
        _event(
            shop_id=shop_id, actor=user, member=target, action=MembershipEvent.Action.ROLE_CHANGED,
            old_role=old_role, new_role=role,
        )  # fmt: skip
    logger.info("shop %s: member %s role %s -> %s by %s", shop_id, target.user_id, old_role, role, user.pk)
    return target


def member_remove(*, shop: Shop | int, user: AbstractBaseUser | None, member: Membership | int) -> list[str]:
    """Remove ``member`` from the shop. Removing the last 店主 (oneself included) is refused
    (``LAST-OWNER``). The member's API keys of the shop are revoked in the same transaction.

    Returns what else the removal did (Chinese lines, e.g. the keys revoked)."""
    require_capability(shop=shop, user=user, capability=Capability.MEMBERS)
    with transaction.atomic():
        shop_id = _lock_shop(shop=shop, user=user)
        target = _locked_member(shop_id=shop_id, member=member)
        if target.role == Role.OWNER and _other_owners(shop_id=shop_id, member=target) == 0:
            if target.user_id == getattr(user, "pk", None):
                message = _("您是本店铺唯一的店主，不能退出。请先把另一位成员设为店主。")
            else:
                message = _("“{username}”是本店铺唯一的店主，不能移除。").format(
                    username=target.user.get_username()
                )
            raise LastOwner(message)
        _event(
            shop_id=shop_id, actor=user, member=target, action=MembershipEvent.Action.REMOVED,
            old_role=target.role,
        )  # fmt: skip
        target.delete()
        effects = [
            line
            for _receiver, lines in member_removed.send(
                sender=Membership, shop_id=shop_id, member_user=target.user, actor=user
            )
            for line in (lines or [])
        ]
    logger.info("shop %s: member %s (%s) removed by %s", shop_id, target.user_id, target.role, user.pk)
    return effects


def member_removal_preview(*, shop: Shop | int, member: Membership) -> list[str]:
    """What removing ``member`` would also do (Chinese lines), for the confirmation page."""
    shop_id = shop if isinstance(shop, int) else shop.pk
    return [
        line
        for _receiver, lines in member_removal_effects.send(
            sender=Membership, shop_id=shop_id, member_user=member.user
        )
        for line in (lines or [])
    ]
