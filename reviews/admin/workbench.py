"""The reviewers' workbench: a ModelAdmin base for every reviewed kind.

Subclass ``ReviewWorkbenchAdmin`` for a ``ReviewedItem`` model and implement the hooks:

- ``item_findings(obj) -> list[Finding]``: the automatic findings run now, with today's policy
  (the decision page; bulk approve runs them through its service);
- ``approve_item(*, item, reviewer)`` / ``reject_item(*, item, reviewer, reason_code,
  reason_text)`` / ``bulk_approve_items(*, items, reviewer) -> BulkApproveResult``: the services;
- ``review_context(obj) -> list[(label, value)]``: extra rows on the decision page (default:
  shop and its category).

The queue is Django's changelist: each row's findings are the ones stored on it
(``checked_findings``, kept current by ``reviews.tasks.refresh_findings``), so a page is a
fixed number of queries and a GET never writes. Every decision goes through the services,
which check the review permission themselves: the workbench never uses django-fsm's admin
buttons (they do not check transition permissions on buttons without a form), items are
read-only in the change view, and the bulk action is declared with ``permissions=["review"]``.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from reviews.admin.forms import ReviewDecisionForm
from reviews.findings import Finding
from reviews.models.review import ReviewDecision, ReviewState, may_review
from reviews.models.signatures import Signature
from reviews.models.templates import MessageTemplate
from reviews.policy.highlight import Segment, marked_segments
from reviews.policy.variables import readable, variable_specs
from reviews.selectors import review_decisions_for
from reviews.services.review import BulkApproveResult
from smsmarketing.errors import SmsError

# The queue's content column shows this many characters; the decision page shows the whole text.
ITEM_CHARS = 60
SHOP_CHARS = 24
QUEUE_TIME_FORMAT = "%Y-%m-%d %H:%M"


class ReviewQueueFilter(admin.SimpleListFilter):
    """The queue: pending by default (ordered by due time), or overdue, decided, all."""

    title = _("审核队列")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("pending", _("待审核")),
            ("overdue", _("已超时")),
            ("decided", _("已处理")),
            ("all", _("全部")),
        ]

    def choices(self, changelist):
        # Without a parameter the queue shows "pending", so that choice is the selected one.
        current = self.value() or "pending"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "pending"
        if value == "pending":
            return queryset.filter(state=ReviewState.PENDING)
        if value == "overdue":
            return queryset.filter(state=ReviewState.PENDING, due_at__lt=timezone.now())
        if value == "decided":
            return queryset.exclude(state=ReviewState.PENDING)
        return queryset


# The template variables of the changelist page being rendered (``VariablesOncePerPage``).
_page_specs: ContextVar[dict | None] = ContextVar("review_page_specs", default=None)


class VariablesOncePerPage:
    """A changelist whose rows show template texts with their variables as 「label」 reads the
    variables once for the page (``page_variables()``), not once per row."""

    def changelist_view(self, request, extra_context=None):
        token = _page_specs.set(variable_specs())
        try:
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()  # the rows are drawn while the variables are set
            return response
        finally:
            _page_specs.reset(token)

    @staticmethod
    def page_variables() -> dict:
        specs = _page_specs.get()
        return variable_specs() if specs is None else specs


def _local(value) -> str:
    return timezone.localtime(value).strftime(QUEUE_TIME_FORMAT)


class ReviewWorkbenchAdmin(admin.ModelAdmin):
    change_form_template = "admin/reviews/workbench_change_form.html"
    decide_template = "admin/reviews/workbench_decide.html"
    # Five columns of 20 rows: a changelist costs about 14 ms for its frame and 0.4 ms per row (the
    # action checkbox, each cell, the row's links; docs/PERFORMANCE.md), so the shop carries its
    # category, the due time the submission time, and the action column a decided item's state.
    list_display = ["item_display", "shop_display", "due_display", "findings_display", "decide_link"]
    list_display_links = ["item_display"]
    list_filter = [ReviewQueueFilter]
    list_select_related = ["shop__category"]
    ordering = ["due_at", "id"]
    actions = ["bulk_approve"]
    list_per_page = 20
    # The unfiltered total ("共 N 条") is one more count of the whole table per page that the
    # queue does not need: the filtered count pages it.
    show_full_result_count = False

    class Media:
        css = {"all": ["portal/admin-review.css"]}

    # ---- hooks -------------------------------------------------------------

    def item_findings(self, obj) -> list[Finding]:
        raise NotImplementedError

    def approve_item(self, *, item, reviewer):
        raise NotImplementedError

    def reject_item(self, *, item, reviewer, reason_code: str, reason_text: str):
        raise NotImplementedError

    def bulk_approve_items(self, *, items, reviewer) -> BulkApproveResult:
        raise NotImplementedError

    def review_marked_text(self, obj, findings: list[Finding]) -> list[Segment]:
        """The item's text cut at its findings' spans (``templates/reviews/marked_text.html``)."""
        return marked_segments(obj.text, findings)

    # Teaching a rule while rejecting (``reviews.admin.teach``): a kind whose reviewers may turn a
    # rejected item's span into a rule proposal sets the form class and implements ``teach_item``.
    teach_form_class = None

    def teach_item(self, *, item, reviewer, form) -> object:
        raise NotImplementedError

    def teach_context(self, obj) -> dict:
        return {}

    def review_context(self, obj) -> list[tuple[str, object]]:
        shop = obj.shop
        if shop is None:
            return []
        restricted = _("（敏感类目）") if shop.category.restricted else ""
        return [
            (_("店铺"), f"{shop.name}（#{shop.pk}）"),
            (_("主营类目"), f"{shop.category.name}{restricted}"),
        ]

    # ---- permissions: items are decided, never edited --------------------

    def has_review_permission(self, request: HttpRequest) -> bool:
        return may_review(self.model, request.user)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # ---- the queue's columns ---------------------------------------------

    def review_summary_text(self, obj) -> str:
        """The row's one-line summary (templates: variables as 「label」)."""
        return obj.review_summary()

    @admin.display(description=_("内容"))
    def item_display(self, obj) -> str:
        return Truncator(self.review_summary_text(obj)).chars(ITEM_CHARS)

    @admin.display(description=_("店铺 / 类目"), ordering="shop__name")
    def shop_display(self, obj):
        if not obj.shop_id:
            return "—"
        name = f"{Truncator(obj.shop.name).chars(SHOP_CHARS)}（#{obj.shop_id}）"
        return format_html('{}<br><span class="review-muted">{}</span>', name, obj.shop.category.name)

    @admin.display(description=_("截止 / 提交"), ordering="due_at")
    def due_display(self, obj):
        overdue = ""
        if obj.is_overdue:
            overdue = format_html(' <strong class="review-overdue">⚠ {}</strong>', _("已超时"))
        return format_html(
            '{}{}<br><span class="review-muted">{} {}</span>',
            _local(obj.due_at), overdue, _("提交"), _local(obj.submitted_at),
        )

    @admin.display(description=_("自动检查"))
    def findings_display(self, obj):
        """The rules of the findings stored on the row (``checked_findings``)."""
        if not obj.checked_key:
            return format_html('<span class="review-muted">{}</span>', _("待检查"))
        rules = sorted({f["rule"] for f in obj.checked_findings})
        if not rules:
            return format_html('<span class="review-ok">{}</span>', _("无发现"))
        # One unbreakable span per rule id (a narrow column must not split TPL-ADLAW).
        spans = format_html_join(" ", '<span class="review-rule">{}</span>', ((rule,) for rule in rules))
        return format_html('<strong class="review-alert">{}</strong>', spans)

    @admin.display(description=_("操作 / 状态"))
    def decide_link(self, obj):
        if obj.state != ReviewState.PENDING:
            return obj.get_state_display()
        url = self._decide_url(obj)
        return format_html('<a class="button review-decide" href="{}">{}</a>', url, _("审核"))

    # ---- the decision page ---------------------------------------------

    def _url_name(self, suffix: str) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_{suffix}"

    def _decide_url(self, obj) -> str:
        return reverse(f"admin:{self._url_name('decide')}", args=[obj.pk], current_app=self.admin_site.name)

    def get_urls(self):
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name=self._url_name("decide"),
        )
        return [decide, *super().get_urls()]

    def _review_extra_context(self, request, obj) -> dict:
        findings = self.item_findings(obj)
        return {
            "review_findings": findings,
            "review_marked_text": self.review_marked_text(obj, findings),
            "review_rows": self.review_context(obj),
            "review_history": review_decisions_for(kind=obj.review_kind, item_id=obj.pk),
            "review_can_decide": obj.state == ReviewState.PENDING and self.has_review_permission(request),
            "review_decide_url": self._decide_url(obj),
            "review_item": obj,
            "review_summary": self.review_summary_text(obj),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            extra.update(self._review_extra_context(request, obj))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        # Refuse early for the page; the service checks again for the write.
        if not self.has_review_permission(request):
            raise PermissionDenied
        changelist = reverse(f"admin:{self._url_name('changelist')}", current_app=self.admin_site.name)
        form = ReviewDecisionForm(request.POST or None)
        teach = self.teach_form_class(request.POST or None) if self.teach_form_class else None
        decided = request.method == "POST" and form.is_valid()
        # The teaching part only counts (and is only validated) when rejecting.
        rejecting = decided and form.cleaned_data["decision"] == ReviewDecisionForm.REJECT
        if decided and (teach is None or not rejecting or teach.is_valid()):
            try:
                if form.cleaned_data["decision"] == ReviewDecisionForm.APPROVE:
                    self.approve_item(item=obj, reviewer=request.user)
                    done = _("已通过：%s") % self.review_summary_text(obj)
                    self.message_user(request, done, messages.SUCCESS)
                else:
                    # The rejection and the rule it teaches are one decision: both or neither.
                    with transaction.atomic():
                        self.reject_item(
                            item=obj,
                            reviewer=request.user,
                            reason_code=form.cleaned_data["reason_code"],
                            reason_text=form.cleaned_data["reason_text"],
                        )
                        taught = self.teach_item(item=obj, reviewer=request.user, form=teach) if (
                            teach is not None and teach.has_span) else None
                    done = _("已驳回：%s") % self.review_summary_text(obj)
                    self.message_user(request, done, messages.SUCCESS)
                    if taught is not None:
                        self.message_user(request, taught, messages.SUCCESS)
            except PermissionDenied:
                raise
            except SmsError as exc:  # already decided, reason missing, shop restricted ...
                if teach is None or not exc.rule.startswith("PROPOSAL-"):
                    self.message_user(request, exc.message, messages.ERROR)
                    return HttpResponseRedirect(changelist)
                # The proposal was refused: nothing was written; the page shows why, selection kept.
                teach.add_error(None, exc.message)
                obj = get_object_or_404(self.get_queryset(request), pk=object_id)
            else:
                return HttpResponseRedirect(changelist)
        context = {
            **self.admin_site.each_context(request),
            **self._review_extra_context(request, obj),
            "opts": self.model._meta,
            "media": self.media,
            "title": _("审核 %s") % obj,
            "form": form,
            "teach_form": teach,
            **(self.teach_context(obj) if teach is not None else {}),
            "changelist_url": changelist,
            "original": obj,
        }
        return TemplateResponse(request, self.decide_template, context)

    # ---- bulk approve ----------------------------------------------------

    @admin.action(permissions=["review"], description=_("批量通过所选（仅限无自动检查发现的）"))
    def bulk_approve(self, request: HttpRequest, queryset) -> None:
        """Approve the selected items that have no finding when the rules run again now."""
        items = queryset.select_related("shop__category").order_by("due_at", "id")
        try:
            result = self.bulk_approve_items(items=items, reviewer=request.user)
        except PermissionDenied:
            raise
        except SmsError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        if result.approved:
            self.message_user(request, _("已通过 %d 条。") % len(result.approved), messages.SUCCESS)
        for item, why in result.skipped:
            text = _("未处理 %(item)s：%(why)s") % {"item": item, "why": why}
            self.message_user(request, text, messages.WARNING)


# The audit trail's kinds as reviewers say them (the stored codes are ``review_kind``).
KIND_LABELS = {Signature.review_kind: _("签名"), MessageTemplate.review_kind: _("模板")}
TRAIL_TEXT_CHARS = 40
TRAIL_REASON_CHARS = 40


class ReviewKindFilter(admin.SimpleListFilter):
    title = _("类型")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return list(KIND_LABELS.items())

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(VariablesOncePerPage, admin.ModelAdmin):
    """The audit trail, read-only for everyone (the database refuses changes too). Its columns fit
    1440 px beside the filters: long texts are cut (the whole row is on its page), the state
    change is one column."""

    list_display = [
        "time_display", "kind_display", "item_display", "shop_display", "action",
        "change_display", "actor", "reason_display",
    ]
    list_display_links = ["time_display"]
    list_filter = [ReviewKindFilter, "action", "to_state", "reason_code"]
    search_fields = ["item_text", "reason_text", "=item_id", "actor__username", "shop__name"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "shop"]
    show_full_result_count = False

    class Media:
        css = {"all": ["portal/admin-review.css"]}

    @admin.display(description=_("时间"), ordering="created_at")
    def time_display(self, obj) -> str:
        return _local(obj.created_at)

    @admin.display(description=_("类型"), ordering="kind")
    def kind_display(self, obj) -> str:
        return str(KIND_LABELS.get(obj.kind, obj.kind))

    @admin.display(description=_("内容快照"))
    def item_display(self, obj) -> str:
        text = readable(text=obj.item_text, specs=self.page_variables())
        return f"#{obj.item_id} {Truncator(text).chars(TRAIL_TEXT_CHARS)}"

    @admin.display(description=_("店铺"), ordering="shop__name")
    def shop_display(self, obj) -> str:
        return Truncator(obj.shop.name).chars(SHOP_CHARS) if obj.shop_id else "—"

    @admin.display(description=_("状态变化"))
    def change_display(self, obj) -> str:
        return f"{obj.get_from_state_display() or '—'} → {obj.get_to_state_display()}"

    @admin.display(description=_("原因"))
    def reason_display(self, obj) -> str:
        reason = " ".join(part for part in (obj.get_reason_code_display(), obj.reason_text) if part)
        return Truncator(reason).chars(TRAIL_REASON_CHARS) if reason else "—"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
