"""Merchant core: categories, shops, who belongs to which shop, and the SMS account.

The SMS account (短信账户) keeps its balance in billed parts (条). Every change of
``balance`` or ``reserved`` is a ``LedgerEntry`` written in the same transaction, so
``balance == sum(amount)`` and ``reserved == sum(reserved_delta)`` over the ledger
(checked by ``manage.py reconcile_ledger``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    """A main category (主营类目). Shops in a restricted one may not use SMS."""

    name = models.CharField(_("类目名称"), max_length=64, unique=True)
    restricted = models.BooleanField(
        _("敏感类目"),
        default=False,
        help_text=_("敏感类目（如计生情趣、医药）的店铺不能使用任何短信功能。"),
    )

    class Meta:
        verbose_name = _("类目")
        verbose_name_plural = _("类目")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Shop(models.Model):
    """A merchant's shop (店铺)."""

    name = models.CharField(_("店铺名称"), max_length=64)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="shops", verbose_name=_("主营类目")
    )
    active = models.BooleanField(_("营业中"), default=True)
    # Where the shop's short links lead (its home page on the platform); see campaigns.models.links.
    landing_url = models.URLField(_("店铺落地页"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("店铺")
        verbose_name_plural = _("店铺")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def sms_restricted(self) -> bool:
        return self.category.restricted


class Membership(models.Model):
    """A user's membership in a shop: a merchant user sees only their shops."""

    class Role(models.TextChoices):
        # What each role may do is smsmarketing.permissions.ROLE_CAPABILITIES.
        OWNER = "owner", _("店主")
        OPERATOR = "operator", _("运营")
        ANALYST = "analyst", _("只读")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices, default=Role.OWNER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("店铺成员")
        verbose_name_plural = _("店铺成员")
        constraints = [
            models.UniqueConstraint(fields=["user", "shop"], name="membership_user_shop_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.shop}"


# --- SMS account (短信账户) -------------------------------------------------

# Default low-balance warning threshold (条) for a new account; the merchant changes it.
DEFAULT_LOW_BALANCE_THRESHOLD = 500


class SmsAccount(models.Model):
    """A shop's SMS account. ``balance`` is available parts, ``reserved`` is held for sends."""

    class Status(models.TextChoices):
        INACTIVE = "inactive", _("未开通")
        ACTIVE = "active", _("已开通")

    shop = models.OneToOneField(
        Shop, on_delete=models.PROTECT, related_name="sms_account", verbose_name=_("店铺")
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.INACTIVE
    )
    balance = models.BigIntegerField(_("可用余量（条）"), default=0)
    reserved = models.BigIntegerField(_("冻结中（条）"), default=0)
    low_balance_threshold = models.PositiveIntegerField(
        _("余量提醒阈值（条）"),
        default=DEFAULT_LOW_BALANCE_THRESHOLD,
        help_text=_("可用余量低于此值时在概览页提醒；0 表示不提醒。"),
    )
    # Spending limits (消费上限, docs/SPEND_LIMITS.md): parts reserved per day / per month
    # (Asia/Shanghai); null = no cap. SpendCounter holds the use, account_reserve the guard.
    daily_spend_limit = models.PositiveIntegerField(_("每日消费上限（条）"), null=True, blank=True)
    monthly_spend_limit = models.PositiveIntegerField(_("每月消费上限（条）"), null=True, blank=True)
    activated_at = models.DateTimeField(_("开通时间"), null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("开通人"),
    )
    terms_version = models.CharField(_("同意的服务协议版本"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("短信账户")
        verbose_name_plural = _("短信账户")
        ordering = ["id"]
        permissions = [("grant_units", _("可以给短信账户发放条数"))]
        constraints = [
            # The last line of defence of "never negative": the conditional UPDATEs in
            # services are the first, this makes any bug fail loudly instead.
            models.CheckConstraint(condition=Q(balance__gte=0), name="smsaccount_balance_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="smsaccount_reserved_gte_0"),
            models.CheckConstraint(
                condition=Q(status="inactive") | Q(activated_at__isnull=False),
                name="smsaccount_active_has_activated_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.shop} · {self.get_status_display()}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_low(self) -> bool:
        """Below the merchant's warning threshold (only meaningful once activated)."""
        return self.is_active and self.balance < self.low_balance_threshold


class RechargePackage(models.Model):
    """A package sold in the benefits centre (权益中心). Rows are edited in the admin."""

    name = models.CharField(_("套餐名称"), max_length=64)
    units = models.PositiveIntegerField(_("条数"))
    price = models.DecimalField(_("价格（元）"), max_digits=12, decimal_places=2)
    active = models.BooleanField(_("在售"), default=True)
    sort_order = models.PositiveIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("充值套餐")
        verbose_name_plural = _("充值套餐")
        ordering = ["sort_order", "units", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(units__gt=0), name="rechargepackage_units_gt_0"),
            models.CheckConstraint(condition=Q(price__gte=0), name="rechargepackage_price_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.units} 条 ¥{self.price}）"

    @property
    def unit_price_fen(self) -> Decimal:
        """The price of one part in fen (分/条), to one decimal: what merchants compare."""
        return (self.price / self.units * 100).quantize(Decimal("0.1"))


class RechargeOrder(models.Model):
    """A purchase of a package (充值记录). Units and price are copied from the package."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待支付")
        PAID = "paid", _("已到账")
        FAILED = "failed", _("支付失败")

    order_no = models.CharField(_("订单号"), max_length=32, unique=True)
    account = models.ForeignKey(
        SmsAccount, on_delete=models.PROTECT, related_name="orders", verbose_name=_("短信账户")
    )
    package = models.ForeignKey(
        RechargePackage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("套餐"),
    )
    package_name = models.CharField(_("套餐名称"), max_length=64)
    units = models.PositiveIntegerField(_("条数"))
    price = models.DecimalField(_("金额（元）"), max_digits=12, decimal_places=2)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    payment_provider = models.CharField(_("支付方式"), max_length=32)
    payment_reference = models.CharField(_("支付流水号"), max_length=64, blank=True)
    failure_reason = models.CharField(_("失败原因"), max_length=200, blank=True)
    # The token of the form the order was placed from: a double click or a resubmitted
    # page places one order, not two (unique per account when set).
    request_token = models.CharField(_("下单请求标识"), max_length=64, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("下单人"),
    )
    created_at = models.DateTimeField(_("下单时间"), auto_now_add=True)
    paid_at = models.DateTimeField(_("到账时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("充值订单")
        verbose_name_plural = _("充值订单")
        ordering = ["-created_at", "-id"]
        indexes = [
            # 充值记录 page: a shop's orders, newest first, filtered by date.
            models.Index(fields=["account", "-created_at"], name="rechargeorder_account_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(units__gt=0), name="rechargeorder_units_gt_0"),
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(paid_at__isnull=False),
                name="rechargeorder_paid_has_paid_at",
            ),
            models.UniqueConstraint(
                fields=["account", "request_token"],
                condition=~Q(request_token=""),
                name="rechargeorder_account_token_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.order_no


class Reservation(models.Model):
    """Parts held for a send (one batch of messages), later charged or released.

    ``reference`` is the caller's idempotency key: one reservation per reference.
    The open amount is ``parts - charged - released``; it is counted in ``reserved``.
    """

    account = models.ForeignKey(
        SmsAccount, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("短信账户")
    )
    reference = models.CharField(_("冻结单号"), max_length=128, unique=True)
    # What the parts are held for, as the merchant reads it (营销任务「双11会员券」), written
    # by the caller when it reserves; its charges and releases carry it into the ledger.
    label = models.CharField(_("用途"), max_length=200, blank=True, default="")
    parts = models.PositiveIntegerField(_("冻结条数"))
    charged = models.PositiveIntegerField(_("已扣费条数"), default=0)
    released = models.PositiveIntegerField(_("已退回条数"), default=0)
    created_at = models.DateTimeField(_("冻结时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("冻结记录")
        verbose_name_plural = _("冻结记录")
        ordering = ["-id"]
        indexes = [
            # reconcile_ledger and "what is still held": open reservations of an account.
            models.Index(
                fields=["account"],
                name="reservation_open_by_account",
                condition=Q(charged__lt=F("parts") - F("released")),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(parts__gt=0), name="reservation_parts_gt_0"),
            # Never settle more than was reserved, however many charge/release calls arrive.
            models.CheckConstraint(
                condition=Q(charged__lte=F("parts") - F("released")),
                name="reservation_settled_lte_parts",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def open_parts(self) -> int:
        return self.parts - self.charged - self.released


class Settlement(models.Model):
    """One charge or release call on a reservation, recorded once per idempotency ``key``.

    ``requested`` is what the caller asked, ``applied`` what was open and so applied
    (0 when the reservation was already fully settled).
    """

    class Kind(models.TextChoices):
        CHARGE = "charge", _("扣费")
        RELEASE = "release", _("退回")

    reservation = models.ForeignKey(
        Reservation, on_delete=models.PROTECT, related_name="settlements", verbose_name=_("冻结记录")
    )
    key = models.CharField(_("幂等键"), max_length=160, unique=True)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    requested = models.PositiveIntegerField(_("请求条数"))
    applied = models.PositiveIntegerField(_("实际条数"))
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("结算记录")
        verbose_name_plural = _("结算记录")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(applied__lte=F("requested")), name="settlement_applied_lte_requested"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class LedgerEntry(models.Model):
    """One change of an account's balance or reserved parts (账户流水). Append-only.

    ``amount`` is the signed change of ``balance`` (available parts) and
    ``reserved_delta`` the signed change of ``reserved``; ``parts`` is the size of
    the operation as a merchant reads it (always positive).
    """

    class Kind(models.TextChoices):
        RECHARGE = "recharge", _("充值到账")
        GRANT = "grant", _("平台发放")
        RESERVE = "reserve", _("发送冻结")
        CHARGE = "charge", _("发送扣费")
        RELEASE = "release", _("失败退回")
        ADJUST = "adjust", _("人工调整")

    # Kinds shown in 发放记录 (credits); ADJUST counts as credit when positive.
    CREDIT_KINDS = (Kind.RECHARGE, Kind.GRANT)
    # Kinds shown in 消费记录; ADJUST counts as consumption when negative.
    CONSUMPTION_KINDS = (Kind.RESERVE, Kind.CHARGE, Kind.RELEASE)

    account = models.ForeignKey(
        SmsAccount, on_delete=models.PROTECT, related_name="ledger", verbose_name=_("短信账户")
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    parts = models.PositiveIntegerField(_("条数"))
    amount = models.BigIntegerField(_("余量变化"))
    reserved_delta = models.BigIntegerField(_("冻结变化"), default=0)
    balance_after = models.BigIntegerField(_("变化后余量"))
    reserved_after = models.BigIntegerField(_("变化后冻结"))
    reference = models.CharField(_("关联单号"), max_length=160, blank=True)
    # The human name of what the entry is for (营销任务「双11会员券」), as it was when written:
    # 消费记录 shows it instead of the internal reference, and never rewrites it later.
    label = models.CharField(_("用途"), max_length=200, blank=True, default="")
    note = models.CharField(_("说明"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    actor_label = models.CharField(_("操作方"), max_length=150)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=False)

    class Meta:
        verbose_name = _("账户流水")
        verbose_name_plural = _("账户流水")
        ordering = ["-created_at", "-id"]
        indexes = [
            # 发放记录 / 消费记录 pages: an account's entries of some kinds, newest first.
            models.Index(fields=["account", "kind", "-created_at"], name="ledger_account_kind_time"),
            # reconcile_ledger and the admin: an account's entries in order.
            models.Index(fields=["account", "-id"], name="ledger_account_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(parts__gt=0), name="ledger_parts_gt_0"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_after_gte_0"),
            models.CheckConstraint(condition=Q(reserved_after__gte=0), name="ledger_reserved_after_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"


class RateLimitCounter(models.Model):
    """Calls of one client (key) in one fixed window; see ``smsmarketing.security``."""

    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("限流计数")
        verbose_name_plural = _("限流计数")
        constraints = [
            # The upsert's conflict target: one row per key and window.
            models.UniqueConstraint(fields=["key", "window_start"], name="ratelimitcounter_key_window"),
        ]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start:%H:%M}: {self.hits}"


class MembershipEvent(models.Model):
    """One change of a shop's members (成员变更记录), append-only: who did what to whom.

    Written by ``smsmarketing.services.members`` in the same transaction as the change. The
    member's username is copied so the record survives the user's deletion.
    """

    class Action(models.TextChoices):
        INVITED = "invited", _("邀请成员")
        CREATED = "created", _("创建账号并加入")
        ROLE_CHANGED = "role_changed", _("修改角色")
        REMOVED = "removed", _("移除成员")

    shop = models.ForeignKey(
        Shop, on_delete=models.CASCADE, related_name="membership_events", verbose_name=_("店铺")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("成员"),
    )
    member_username = models.CharField(_("成员用户名"), max_length=150)
    action = models.CharField(_("操作"), max_length=16, choices=Action.choices)
    old_role = models.CharField(_("原角色"), max_length=16, choices=Membership.Role.choices, blank=True)
    new_role = models.CharField(_("新角色"), max_length=16, choices=Membership.Role.choices, blank=True)
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("成员变更记录")
        verbose_name_plural = _("成员变更记录")
        ordering = ["-at", "-id"]
        indexes = [
            # The members page's recent events of one shop, newest first.
            models.Index(fields=["shop", "-id"], name="membershipevent_shop_id"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.member_username} @ {self.shop_id}"


# --- Notifications (消息通知) -------------------------------------------------
# smsmarketing.services.notifications writes them (notify), docs/NOTIFICATIONS.md.


class Notification(models.Model):
    """One event told to one shop member: shown in the portal's inbox and/or mailed.

    ``event_key`` names the event ("signature_rejected:42"); (event_key, recipient) is unique,
    so an event is recorded once per member however often its emitter runs. A row exists for
    every member who wants the event by either channel; ``in_inbox`` says whether the inbox
    shows it (a member who chose e-mail only has a row, its mail, and nothing in the inbox).
    """

    class Kind(models.TextChoices):
        SIGNATURE_APPROVED = "signature_approved", _("签名审核通过")
        SIGNATURE_REJECTED = "signature_rejected", _("签名审核未通过")
        TEMPLATE_APPROVED = "template_approved", _("模板审核通过")
        TEMPLATE_REJECTED = "template_rejected", _("模板审核未通过")
        REVIEW_OVERDUE = "review_overdue", _("审核超时")
        BALANCE_LOW = "balance_low", _("余量不足提醒")
        BALANCE_EXHAUSTED = "balance_exhausted", _("余量用尽")
        CAMPAIGN_FINISHED = "campaign_finished", _("营销任务完成")
        CAMPAIGN_STOPPED = "campaign_stopped", _("营销任务被停止")
        CAMPAIGN_PAUSED = "campaign_paused", _("营销任务暂停（消费上限）")
        RECHARGE_CREDITED = "recharge_credited", _("充值到账")

    shop = models.ForeignKey(
        Shop, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("店铺")
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("接收人"),
    )
    kind = models.CharField(_("类型"), max_length=32, choices=Kind.choices)
    event_key = models.CharField(_("事件标识"), max_length=160)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True, default="")
    link = models.CharField(_("链接"), max_length=500, blank=True, default="")
    in_inbox = models.BooleanField(_("显示在站内信"), default=True)
    created_at = models.DateTimeField(_("时间"))
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("消息通知")
        verbose_name_plural = _("消息通知")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The inbox: a member's notifications of one shop, newest first.
            models.Index(fields=["recipient", "shop", "-created_at", "-id"], name="notification_inbox"),
            # The bell's unread count, on every portal page: only the unread inbox rows.
            models.Index(
                fields=["recipient", "shop"],
                name="notification_unread",
                condition=Q(read_at__isnull=True, in_inbox=True),
            ),
        ]
        constraints = [
            # Idempotent per (event, recipient): notify() inserts with ON CONFLICT DO NOTHING.
            models.UniqueConstraint(fields=["event_key", "recipient"], name="notification_event_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient}: {self.title}"


class NotificationPreference(models.Model):
    """A member's choice for one kind of notification; without a row the defaults apply
    (``smsmarketing.services.notifications.DEFAULT_CHANNELS``)."""

    membership = models.ForeignKey(
        Membership,
        on_delete=models.CASCADE,
        related_name="notification_preferences",
        verbose_name=_("店铺成员"),
    )
    kind = models.CharField(_("类型"), max_length=32, choices=Notification.Kind.choices)
    inbox = models.BooleanField(_("站内信"), default=True)
    email = models.BooleanField(_("邮件"), default=False)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("通知设置")
        verbose_name_plural = _("通知设置")
        constraints = [
            models.UniqueConstraint(fields=["membership", "kind"], name="notificationpreference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.membership} · {self.kind}"


class MailDelivery(models.Model):
    """The e-mail of one notification (the outbox): sent by a django-q2 task, retried with
    back-off while the mail server is unreachable, given up (failed) after ``give_up_at``."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENT = "sent", _("已发送")
        FAILED = "failed", _("发送失败")

    notification = models.OneToOneField(
        Notification, on_delete=models.CASCADE, related_name="mail", verbose_name=_("消息通知")
    )
    to = models.CharField(_("收件地址"), max_length=254)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    # When a pending mail is next due; a worker's claim pushes it forward by a lease.
    next_attempt_at = models.DateTimeField(_("下次尝试时间"), null=True, blank=True)
    give_up_at = models.DateTimeField(_("放弃时间"))
    last_error = models.CharField(_("最近错误"), max_length=300, blank=True, default="")
    created_at = models.DateTimeField(_("创建时间"))
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知邮件")
        verbose_name_plural = _("通知邮件")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweeper: pending mails that are due.
            models.Index(
                fields=["next_attempt_at"], name="maildelivery_due", condition=Q(status="pending")
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="maildelivery_sent_has_sent_at"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="maildelivery_pending_is_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.to} · {self.get_status_display()}"


# --- Spending limits (消费上限) ------------------------------------------------
# smsmarketing.services.spend_limits writes them, docs/SPEND_LIMITS.md.


class SpendCounter(models.Model):
    """Parts reserved by one account in one period (a day or a month, Asia/Shanghai dates).

    Written only by ``account_reserve`` (+ parts, under the caps: a conditional UPDATE) and by
    releases (- parts: a refund gives the cap back, as it gives the balance back), always
    after the account row is locked. ``period_start`` is the day, or the month's first day.
    The cap itself is not a CHECK here: lowering a cap below today's use is allowed (sends
    stop), so the guard is the UPDATE's ``WHERE spent + n <= cap``, evaluated at write time.
    """

    class Period(models.TextChoices):
        DAY = "day", _("每日")
        MONTH = "month", _("每月")

    account = models.ForeignKey(
        SmsAccount, on_delete=models.CASCADE, related_name="spend_counters", verbose_name=_("短信账户")
    )
    period = models.CharField(_("周期"), max_length=8, choices=Period.choices)
    period_start = models.DateField(_("周期开始"))
    spent = models.BigIntegerField(_("已占用（条）"), default=0)

    class Meta:
        verbose_name = _("消费计数")
        verbose_name_plural = _("消费计数")
        constraints = [
            # Race: two first reservations of a period insert the row at once (ON CONFLICT DO NOTHING).
            models.UniqueConstraint(fields=["account", "period", "period_start"], name="spendcounter_unique"),
            models.CheckConstraint(condition=Q(spent__gte=0), name="spendcounter_spent_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.period} {self.period_start}: {self.spent}"
