"""Signature services: submit, withdraw (merchant); approve, reject, bulk approve (reviewer).

Every service first calls ``shop_ensure_sms_allowed`` (a shop in a restricted
category may not submit, withdraw or get a signature approved) — except
``signature_reject``: a reviewer must still be able to clear the queue of a
shop whose category became restricted after it submitted.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from reviews.errors import AlreadyDecided
from reviews.findings import Finding
from reviews.models.review import ReviewAction, ReviewState
from reviews.models.signatures import Signature
from reviews.models.templates import MessageTemplate
from reviews.normalization import normalize_key
from reviews.policy import fingerprint
from reviews.selectors import live_signature, pending_signature
from reviews.services.findings import findings_refresh_enqueue
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
from reviews.signature_rules import active_brand_terms, active_neutral_names, signature_findings
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

PENDING_EXISTS_MESSAGE = _lazy("您已有一个待审核的签名，请等待审核结果，或先撤回后再提交。")


class SignatureRefused(SmsError):
    """A submission the rules refuse; ``findings`` lists every reason."""

    rule = "SIG-REFUSED"

    def __init__(
        self, message: str, *, findings: list[Finding] | None = None, rule: str | None = None
    ) -> None:
        self.findings = findings or []
        super().__init__(message, rule=rule or (self.findings[0].rule if self.findings else None))


def signature_check(*, shop: Shop, text: str) -> list[Finding]:
    """The findings a submission of ``text`` by ``shop`` would get (no write)."""
    return signature_findings(text.strip(), shop_id=shop.pk)


def signature_submit(*, shop: Shop, text: str, by) -> Signature:
    """Submit a new or changed signature for review; the live one stays in use meanwhile."""
    require_capability(shop=shop, user=by, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    text = text.strip()
    neutral_names, brand_terms = active_neutral_names(), active_brand_terms()
    findings = signature_findings(text, shop_id=shop.pk, neutral_names=neutral_names, brand_terms=brand_terms)
    if findings:
        raise SignatureRefused(
            _("签名不符合规则，请按提示修改后再提交：") + "；".join(f.message for f in findings),
            findings=findings,
        )
    normalized = normalize_key(text)
    live = live_signature(shop=shop)
    if live is not None and live.normalized == normalized:
        raise SignatureRefused(_("该签名与当前生效的签名相同，无需重新提交。"), rule="SIG-UNCHANGED")
    if pending_signature(shop=shop) is not None:
        raise SignatureRefused(str(PENDING_EXISTS_MESSAGE), rule="SIG-PENDING-EXISTS")
    try:
        with transaction.atomic():
            key = fingerprint.signature_findings_key(
                neutral_names=neutral_names, brand_terms=brand_terms, text=text
            )
            signature = Signature.objects.create(
                shop=shop, text=text, normalized=normalized, checked_findings=[], checked_key=key,
                **review_submission_fields(by=by),
            )
            review_record(
                item=signature, action=ReviewAction.SUBMIT, actor=by,
                from_state="", to_state=ReviewState.PENDING, at=signature.submitted_at,
            )
    except IntegrityError as exc:
        # Races the checks above cannot see: a second tab of the same shop, or
        # another shop submitting the same text at the same moment.
        if "signature_one_pending_per_shop" in str(exc):
            raise SignatureRefused(str(PENDING_EXISTS_MESSAGE), rule="SIG-PENDING-EXISTS") from exc
        if "signature_normalized_in_use_unique" in str(exc):
            raise SignatureRefused(
                _("该签名已被其他店铺使用或正在申请。"), rule="SIG-DUPLICATE"
            ) from exc
        raise
    return signature


def signature_withdraw(*, shop: Shop, by, token: str | None = None) -> Signature:
    """The merchant withdraws the shop's pending signature; the live one stays in use. With
    ``token`` (``review_withdraw_token`` of the signature the merchant confirmed), a different
    pending signature (the confirmed one decided, a new one submitted) is refused."""
    require_capability(shop=shop, user=by, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    pending = pending_signature(shop=shop)
    if pending is None:
        raise SmsError(_("没有待审核的签名可以撤回。"), rule="SIG-NOTHING-PENDING")
    try:
        return review_withdraw(item=pending, by=by, token=token)
    except AlreadyDecided as exc:
        raise SmsError(_("该签名刚刚已审核完毕，无法撤回，请刷新查看结果。"), rule=exc.rule) from exc


def signature_approve(*, signature: Signature, reviewer) -> Signature:
    """Approve a pending signature; the shop's previous live one is superseded in the same transaction.

    The shop's pending templates are checked with its live signature (length, parts): their
    stored findings are refreshed in the background once the approval is committed."""
    shop_ensure_sms_allowed(shop=signature.shop)
    approved = review_approve(item=signature, reviewer=reviewer, supersede_within="shop_id")
    findings_refresh_enqueue(kind=MessageTemplate.review_kind)
    return approved


def signature_reject(*, signature: Signature, reviewer, reason_code: str, reason_text: str = "") -> Signature:
    """Reject a pending signature with a reason; the live one stays untouched."""
    return review_reject(item=signature, reviewer=reviewer, reason_code=reason_code, reason_text=reason_text)


def signature_current_findings(signature: Signature) -> list[Finding]:
    """The rules' findings for a submitted signature with today's lists and signatures."""
    return signature_findings(signature.text, shop_id=signature.shop_id)


def signature_findings_key(signature: Signature) -> str:
    """The fingerprint of every input of ``signature_current_findings`` today (neutral names,
    brand terms, the text): see ``reviews.policy.fingerprint``."""
    return fingerprint.signature_findings_key(
        neutral_names=active_neutral_names(), brand_terms=active_brand_terms(), text=signature.text
    )


def signature_bulk_approve(*, signatures: Iterable[Signature], reviewer) -> BulkApproveResult:
    """Approve every given pending signature that has no finding now; skip the others."""

    def approve_one(*, item: Signature, reviewer) -> Signature:
        return signature_approve(signature=item, reviewer=reviewer)

    review_ensure_reviewer(model=Signature, reviewer=reviewer)
    result = BulkApproveResult()
    allowed: list[Signature] = []
    for signature in signatures:
        if signature.shop.sms_restricted:
            result.skipped.append((signature, _("店铺属于敏感类目")))
        else:
            allowed.append(signature)
    inner = review_bulk_approve(
        items=allowed, reviewer=reviewer, findings_of=signature_current_findings, approve=approve_one
    )
    result.approved.extend(inner.approved)
    result.skipped.extend(inner.skipped)
    return result
