"""Template services: check, submit (new template or new version), withdraw (merchant);
approve, reject, bulk approve (reviewer); official templates (platform).

Every merchant and approving service first calls ``shop_ensure_sms_allowed``.
``template_reject`` does not (as for signatures): a reviewer must be able to
clear the queue of a shop whose category became restricted after it submitted.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from reviews.choices import MessageClass
from reviews.errors import AlreadyDecided
from reviews.findings import Finding, blocks
from reviews.models.review import ReviewAction, ReviewState
from reviews.models.templates import TEMPLATE_USE_CHOICES, MessageTemplate, TemplateOrigin
from reviews.policy import fingerprint
from reviews.policy.checker import CheckResult, ContentPolicy, check_content, content_policy
from reviews.selectors import live_signature
from reviews.services.review import (
    BulkApproveResult,
    review_approve,
    review_bulk_approve,
    review_ensure_reviewer,
    review_record,
    review_reject,
    review_submission_fields,
    review_withdraw,
)
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

NAME_MAX_LENGTH = 40
TEMPLATE_USES = {value for value, _label in TEMPLATE_USE_CHOICES}


class TemplateRefused(SmsError):
    """A template the rules or the review state refuse; ``findings`` lists the rule findings."""

    rule = "TPL-REFUSED"

    def __init__(
        self, message: str, *, findings: list[Finding] | None = None, rule: str | None = None
    ) -> None:
        self.findings = findings or []
        first_block = next((f.rule for f in self.findings if f.severity == "block"), None)
        super().__init__(message, rule=rule or first_block)


def _signature_text(shop: Shop | None) -> str | None:
    live = live_signature(shop=shop) if shop is not None else None
    return live.text if live is not None else None


def template_check(*, shop: Shop | None, text: str, use: str, message_class: str) -> CheckResult:
    """The checker's result for ``text`` as a template of ``shop`` (its live signature counts)."""
    return check_content(
        kind="template", text=text, signature=_signature_text(shop), message_class=message_class, use=use
    )


def template_checked(
    *, policy: ContentPolicy, signature: str | None, text: str, use: str, message_class: str
) -> tuple[list[Finding], str]:
    """The findings of a template under ``policy`` and the shop's live ``signature``, with their
    fingerprint: both from the same inputs, so a stored pair is always consistent."""
    key = fingerprint.template_findings_key(
        policy=policy, signature=signature, text=text, use=use, message_class=message_class
    )
    result = check_content(
        kind="template", text=text, signature=signature, message_class=message_class, use=use, policy=policy
    )
    return result.findings, key


def template_findings_key(template: MessageTemplate) -> str:
    """The fingerprint of every input of ``template_current_findings`` today (the policy, the
    shop's live signature, the template's own fields): see ``reviews.policy.fingerprint``."""
    return fingerprint.template_findings_key(
        policy=content_policy(), signature=_signature_text(template.shop), text=template.text,
        use=template.use, message_class=template.message_class,
    )


def _validate(*, name: str, use: str, message_class: str, text: str) -> tuple[str, str]:
    name, text = (name or "").strip(), (text or "").strip()
    if not name:
        raise TemplateRefused(_("请填写模板名称。"), rule="TPL-NAME")
    if len(name) > NAME_MAX_LENGTH:
        raise TemplateRefused(_("模板名称不能超过%(n)d个字。") % {"n": NAME_MAX_LENGTH}, rule="TPL-NAME")
    if use not in TEMPLATE_USES:
        raise TemplateRefused(_("请选择模板用途。"), rule="TPL-USE")
    if message_class not in MessageClass.values:
        raise TemplateRefused(_("请选择短信类型。"), rule="TPL-CLASS")
    return name, text


def _refuse_blocking(findings: list[Finding]) -> None:
    if blocks(findings):
        blocking = [f for f in findings if f.severity == "block"]
        raise TemplateRefused(
            _("模板内容不符合规则，请按提示修改后再提交：") + "；".join(f.message for f in blocking),
            findings=findings,
        )


def template_submit(
    *, shop: Shop, by, name: str, use: str, message_class: str, text: str,
    previous: MessageTemplate | None = None,
) -> MessageTemplate:
    """Submit a new custom template, or a new version of ``previous`` (the shop's), for review.

    A template with a blocking finding is refused (``TemplateRefused`` with the
    findings) and nothing is written. A new version joins ``previous``'s lineage
    with the next version number; the approved version stays usable meanwhile.
    """
    require_capability(shop=shop, user=by, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    name, text = _validate(name=name, use=use, message_class=message_class, text=text)
    findings, key = template_checked(
        policy=content_policy(), signature=_signature_text(shop), text=text, use=use,
        message_class=message_class,
    )
    _refuse_blocking(findings)
    fields = {"shop": shop, "origin": TemplateOrigin.CUSTOM, "name": name, "use": use,
              "message_class": message_class, "text": text,
              "checked_findings": [f.as_dict() for f in findings], "checked_key": key}
    try:
        with transaction.atomic():
            if previous is not None:
                fields |= _next_version(shop=shop, previous=previous, text=text, use=use,
                                        message_class=message_class, name=name)
            template = MessageTemplate.objects.create(
                **fields, **review_submission_fields(by=by, findings=findings)
            )
            review_record(
                item=template, action=ReviewAction.SUBMIT, actor=by,
                from_state="", to_state=ReviewState.PENDING, at=template.submitted_at,
            )
    except IntegrityError as exc:
        # Race the checks cannot see: two tabs submitting a version of the same template at once.
        if "template_one_pending_version" in str(exc) or "template_lineage_version_unique" in str(exc):
            raise TemplateRefused(_("该模板已有待审核的版本，请等待审核结果或先撤回。"),
                                  rule="TPL-PENDING-EXISTS") from exc
        raise
    return template


def _next_version(*, shop: Shop, previous: MessageTemplate, text: str, use: str,
                  message_class: str, name: str) -> dict:
    """Lineage and version of a new version of ``previous`` (call inside the transaction)."""
    if previous.shop_id != shop.pk or previous.origin != TemplateOrigin.CUSTOM:
        raise TemplateRefused(_("只能修改本店铺的自定义模板。"), rule="TPL-NOT-OWNER")
    # Lock the lineage's rows so two edits number their versions one after the other.
    versions = list(
        MessageTemplate.objects.select_for_update().filter(lineage=previous.lineage).order_by("-version")
    )
    if any(v.state == ReviewState.PENDING for v in versions):
        raise TemplateRefused(
            _("该模板已有待审核的版本，请等待审核结果或先撤回。"), rule="TPL-PENDING-EXISTS"
        )
    live = next((v for v in versions if v.state == ReviewState.APPROVED), None)
    same = (text, use, message_class, name)
    if live is not None and (live.text, live.use, live.message_class, live.name) == same:
        raise TemplateRefused(_("内容与当前已通过的版本相同，无需重新提交。"), rule="TPL-UNCHANGED")
    return {"lineage": previous.lineage, "version": versions[0].version + 1}


def template_withdraw(
    *, shop: Shop, template: MessageTemplate, by, token: str | None = None
) -> MessageTemplate:
    """The merchant withdraws a pending version of one of the shop's templates; its approved
    version, if any, stays usable. ``token``: as ``signature_withdraw``."""
    require_capability(shop=shop, user=by, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    if template.shop_id != shop.pk:
        raise TemplateRefused(_("只能撤回本店铺的模板。"), rule="TPL-NOT-OWNER")
    try:
        return review_withdraw(item=template, by=by, token=token)
    except AlreadyDecided as exc:
        raise SmsError(_("该模板刚刚已审核完毕或已撤回，无法撤回，请刷新查看结果。"), rule=exc.rule) from exc


def template_approve(*, template: MessageTemplate, reviewer) -> MessageTemplate:
    """Approve a pending version; the lineage's previous approved version is superseded atomically."""
    review_ensure_reviewer(model=MessageTemplate, reviewer=reviewer)
    shop_ensure_sms_allowed(shop=template.shop)
    return review_approve(item=template, reviewer=reviewer, supersede_within="lineage")


def template_reject(
    *, template: MessageTemplate, reviewer, reason_code: str, reason_text: str = ""
) -> MessageTemplate:
    """Reject a pending version with a reason code; an approved version stays usable."""
    return review_reject(item=template, reviewer=reviewer, reason_code=reason_code, reason_text=reason_text)


def template_current_findings(template: MessageTemplate) -> list[Finding]:
    """The checker's findings for a template with today's word lists and the shop's live signature."""
    return template_check(
        shop=template.shop, text=template.text, use=template.use, message_class=template.message_class
    ).findings


def template_bulk_approve(*, templates: Iterable[MessageTemplate], reviewer) -> BulkApproveResult:
    """Approve every given pending template that has no finding now; skip the others."""

    def approve_one(*, item: MessageTemplate, reviewer) -> MessageTemplate:
        return template_approve(template=item, reviewer=reviewer)

    review_ensure_reviewer(model=MessageTemplate, reviewer=reviewer)
    result = BulkApproveResult()
    allowed = []
    for template in templates:
        if template.shop is not None and template.shop.sms_restricted:
            result.skipped.append((template, _("店铺属于敏感类目")))
        else:
            allowed.append(template)
    inner = review_bulk_approve(
        items=allowed, reviewer=reviewer, findings_of=template_current_findings, approve=approve_one
    )
    result.approved.extend(inner.approved)
    result.skipped.extend(inner.skipped)
    return result


def official_template_create(
    *, name: str, use: str, message_class: str, text: str, by=None
) -> MessageTemplate:
    """The platform publishes an official template: checked like any template, approved at once."""
    name, text = _validate(name=name, use=use, message_class=message_class, text=text)
    _refuse_blocking(template_check(shop=None, text=text, use=use, message_class=message_class).findings)
    now = timezone.now()
    return MessageTemplate.objects.create(
        origin=TemplateOrigin.OFFICIAL, shop=None, name=name, use=use, message_class=message_class,
        text=text, state=ReviewState.APPROVED, submitted_at=now, submitted_by=by, due_at=now,
        decided_at=now, decided_by=by,
    )
