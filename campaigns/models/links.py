"""Short links and their clicks: every message that carries a link has its own code
(``Message.link_code``); ``/t/<code>`` redirects to the landing page and records a ``Click``."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models.sending import Message, current_month


class Click(models.Model):
    """One request of a short link. HEAD requests and link previewers (carriers and chat apps
    fetch a link before a person taps it) are kept, with ``human`` false; only human clicks count."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="clicks", db_constraint=False)
    # Copied from the message so the reports read clicks without joining messages.
    campaign_id = models.BigIntegerField(db_index=False)
    shop_id = models.BigIntegerField(db_index=False)
    phone = models.CharField(_("手机号"), max_length=11)
    at = models.DateTimeField(_("点击时间"))
    method = models.CharField(max_length=8, default="GET")
    user_agent = models.CharField(_("浏览器标识"), max_length=512, blank=True, default="")
    client_hash = models.CharField(max_length=64, blank=True, default="")  # sha256 of the client address
    human = models.BooleanField(_("真人点击"), default=True)
    month = models.DateField(default=current_month, editable=False)  # the message's month (partition key)

    class Meta:
        verbose_name = _("短链点击")
        verbose_name_plural = _("短链点击")
        indexes = [
            models.Index(fields=["campaign_id", "at"], name="click_campaign_at"),
            # Attribution: a shop's last human click on a phone before an order.
            models.Index(
                fields=["shop_id", "phone", "at"], condition=models.Q(human=True), name="click_human_touch"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} @ {self.at:%Y-%m-%d %H:%M}"


class LinkPreviewerAgent(models.Model):
    """A user-agent fragment of a link previewer or bot (data, edited in the admin), in addition
    to what ``ua-parser`` recognises as a spider."""

    pattern = models.CharField(_("浏览器标识片段"), max_length=128, unique=True)
    note = models.CharField(_("说明"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("链接预览程序")
        verbose_name_plural = _("链接预览程序")
        ordering = ["pattern"]

    def __str__(self) -> str:
        return self.pattern


class LandingDomain(models.Model):
    """A domain merchants may send short links to (the platform's own shop and coupon pages);
    a landing URL on any other host is refused. Sub-domains are allowed with ``subdomains``."""

    domain = models.CharField(_("域名"), max_length=253, unique=True)
    subdomains = models.BooleanField(_("含子域名"), default=True)
    note = models.CharField(_("说明"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("允许的落地页域名")
        verbose_name_plural = _("允许的落地页域名")
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain
