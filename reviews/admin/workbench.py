"""The reviewers' workbench: a ModelAdmin base for every reviewed kind.

Subclass ``ReviewWorkbenchAdmin`` for a ``ReviewedItem`` model and override
the hooks you need:

- ``item_findings(obj) -> list[Finding]``: automatic findings shown to the
  reviewer and used by bulk approve (default: those stored at submission);
- ``review_context(obj) -> list[(label, value)]``: extra rows on the decision
  page (default: shop and its category);
- ``approve_item(*, item, reviewer)`` / ``reject_item(*, item, reviewer,
  reason_code, reason_text)``: the services to call (default: the generic
  ``review_approve`` / ``review_reject``).

Every decision goes through those services, which check the review
permission themselves: the workbench never uses django-fsm's admin buttons
(they do not check transition permissions on buttons without a form), items
are read-only in the change view, and the bulk action is declared with
``permissions=["review"]``.
"""

from __future__ import annotations

import html

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from reviews.admin.forms import ReviewDecisionForm
from reviews.findings import Finding
from reviews.models.review import ReviewDecision, ReviewState, may_review
from reviews.policy.memo import memoised, policy_memo
from reviews.selectors import review_decisions_for
from reviews.services.findings import prime_live_signatures, review_findings_store
from reviews.services.review import review_approve, review_bulk_approve, review_reject
from smsmarketing.errors import SmsError


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


def _page_timezone():
    """The current time zone, looked up once per queue page (``timezone.localtime`` looks it up
    in the request's asgiref Local for each of two dates a row)."""
    return memoised(("timezone",), timezone.get_current_timezone)


_PK_MARK = "__pk__"
_STATE_LABELS = dict(ReviewState.choices)


def _page_text(key: str, make):
    """A cell's fixed text (translated, escaped), made once per queue page (``policy_memo``):
    the rows' display methods otherwise translate the same lazy strings 50 times a page."""
    return memoised(("queue_text", key), make)


class QueueRow:
    """A queue row read as a tuple (``values_list`` of the admin's ``list_only``), not as model
    instances of the item, its shop and the shop's category: building three instances a row was
    a fifth of the page (docs/PERFORMANCE.md). The row has the loaded columns as attributes, its
    shop and category as nested rows, and the model's ``__str__``, ``review_summary`` and
    ``is_overdue`` (``row_class``): a method reading a column the queue does not load fails
    loudly (AttributeError), it does not query."""

    def __init__(self, **values) -> None:
        self.__dict__.update(values)

    @property
    def pk(self):
        return self.id


_ROW_CLASSES: dict[type, type] = {}


def row_class(model) -> type:
    """The light row class of ``model``: ``QueueRow`` with the model's display methods."""
    if model not in _ROW_CLASSES:
        methods = {name: getattr(model, name) for name in ("__str__", "review_summary")}
        methods["is_overdue"] = model.is_overdue  # the property
        _ROW_CLASSES[model] = type(f"{model.__name__}Row", (QueueRow,), methods)
    return _ROW_CLASSES[model]


def queue_rows_of(queryset, columns: tuple[str, ...]) -> list[QueueRow]:
    """The rows of ``queryset`` as ``row_class`` rows of ``columns`` (``shop__name`` becomes
    ``row.shop.name``, ``shop__category__name`` ``row.shop.category.name``)."""
    build = _row_builder(row_class(queryset.model), columns)
    return [build(values) for values in queryset.values_list(*columns)]


def _row_builder(make: type, columns: tuple[str, ...]):
    """A function of one ``values_list`` tuple to its row: the columns' paths are split once per
    page, not once per value. Each related row also sets ``<name>_id`` as a model has it; a
    related row whose ``id`` is NULL (no shop) is None."""
    own: list[tuple[str, int]] = []
    related: dict[str, list[str]] = {}
    for index, name in enumerate(columns):
        head, sep, rest = name.partition("__")
        if sep:
            related.setdefault(head, []).append(rest)
        else:
            own.append((head, index))
    nested = []
    for head, names in related.items():
        indexes = [columns.index(f"{head}__{name}") for name in names]
        if "id" not in names:
            raise ValueError(f"list_only must load {head}__id to read {head}")
        id_index = indexes[names.index("id")]
        nested.append((head, id_index, indexes, _row_builder(QueueRow, tuple(names))))

    def build(values):
        row = make(**{name: values[index] for name, index in own})
        for head, id_index, indexes, build_related in nested:
            related_id = values[id_index]
            setattr(row, f"{head}_id", related_id)
            setattr(row, head, None if related_id is None else build_related([values[i] for i in indexes]))
        return row

    return build


class QueueChangeList(ChangeList):
    """The queue's changelist: the rows' change links from one reverse() per page (Django
    reverses once per linked cell: two per row here), the rows as light tuples."""

    def url_for_result(self, result):
        if not hasattr(self, "_change_url"):
            self._change_url = super().url_for_result(self.model(pk=_PK_MARK))
        # Django's url_for_result quotes the pk (admin quote(): "_" becomes "_5F"): replace
        # the marker as it appears in the URL.
        return self._change_url.replace(quote(_PK_MARK), quote(str(result.pk)))

    def get_results(self, request):
        # The page's rows load only the columns the queue shows and checks (``list_only``), as
        # light rows; the queryset given to actions (bulk approve) is a new, complete one.
        super().get_results(request)
        columns = self.model_admin.list_only
        if columns:
            self.result_list = queue_rows_of(self.result_list, columns)


class ReviewWorkbenchAdmin(admin.ModelAdmin):
    change_form_template = "admin/reviews/workbench_change_form.html"
    change_list_template = "admin/reviews/workbench_change_list.html"
    decide_template = "admin/reviews/workbench_decide.html"
    list_display = [
        "id", "item_display", "shop_display", "category_display", "state_badge",
        "submitted_display", "due_display", "findings_display", "decide_link",
    ]
    list_display_links = ["id", "item_display"]
    list_filter = [ReviewQueueFilter]
    ordering = ["due_at", "id"]
    actions = ["bulk_approve"]
    list_per_page = 50
    # The filtered count pages the queue; the unfiltered total ("共 N 条") is one more count of
    # the whole table per view that nobody needs (docs/PERFORMANCE.md).
    show_full_result_count = False
    # The columns the queue's rows load (empty: all): what the display methods, the
    # findings (``list_finding_rules``) and their fingerprint read. A column left out is loaded
    # once per row when read (tests/perf/test_query_counts.py would see it).
    list_only: tuple[str, ...] = ()

    class Media:
        # Classes of the queue's cells (the CSP forbids inline style attributes).
        css = {"all": ["portal/admin-review.css"]}

    # ---- hooks -------------------------------------------------------------

    def item_findings(self, obj) -> list[Finding]:
        known = Finding.__dataclass_fields__
        return [Finding(**{k: v for k, v in f.items() if k in known}) for f in obj.findings]

    def findings_key(self, obj) -> str | None:
        """The fingerprint of the inputs of ``item_findings(obj)`` today
        (``reviews.policy.fingerprint``), or None to recompute them on every view."""
        return None

    def list_finding_rules(self, obj) -> set[str]:
        """The queue's column: the rules of the findings stored on the row while their
        fingerprint is today's; else of the findings recomputed now, stored after the page is
        rendered."""
        key = self.findings_key(obj)  # before computing (the race in template_submit)
        if key is not None and obj.checked_key == key:
            return {f["rule"] for f in obj.checked_findings}
        findings = self.item_findings(obj)
        if key is not None and obj.state == ReviewState.PENDING:
            obj.checked_findings, obj.checked_key = [f.as_dict() for f in findings], key
            memoised(("refreshed_findings",), list).append(obj)
        return {f.rule for f in findings}

    def review_context(self, obj) -> list[tuple[str, object]]:
        shop = getattr(obj, "shop", None)
        if shop is None:
            return []
        category = shop.category
        restricted = _("（敏感类目）") if category.restricted else ""
        return [(_("店铺"), f"{shop.name}（#{shop.pk}）"), (_("主营类目"), f"{category.name}{restricted}")]

    def approve_item(self, *, item, reviewer):
        return review_approve(item=item, reviewer=reviewer)

    def reject_item(self, *, item, reviewer, reason_code: str, reason_text: str):
        return review_reject(item=item, reviewer=reviewer, reason_code=reason_code, reason_text=reason_text)

    # ---- permissions: items are decided, never edited --------------------

    def has_review_permission(self, request: HttpRequest) -> bool:
        return may_review(self.model, request.user)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if any(f.name == "shop" for f in self.model._meta.fields):
            qs = qs.select_related("shop__category")
        return qs

    def changelist_view(self, request, extra_context=None):
        # Each row's findings are checked against today's policy: load the policy (and the live
        # signatures of the page's shops) once per page, not once per row (N+1); rows whose
        # stored findings were stale are stored back in one UPDATE.
        with policy_memo():
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()
            refreshed = memoised(("refreshed_findings",), list)
            if refreshed:
                review_findings_store(items=[
                    self.model(pk=row.pk, checked_findings=row.checked_findings, checked_key=row.checked_key)
                    for row in refreshed
                ])
        return response

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        prime_live_signatures({getattr(obj, "shop_id", None) for obj in changelist.result_list})
        return changelist

    # ---- list columns -----------------------------------------------------

    @admin.display(description=_("内容"))
    def item_display(self, obj) -> str:
        return obj.review_summary()

    @admin.display(description=_("店铺"))
    def shop_display(self, obj) -> str:
        shop = getattr(obj, "shop", None)
        return f"{shop.name}（#{shop.pk}）" if shop else "—"

    @admin.display(description=_("主营类目"))
    def category_display(self, obj) -> str:
        shop = getattr(obj, "shop", None)
        return shop.category.name if shop else "—"

    @admin.display(description=_("状态"), ordering="state")
    def state_badge(self, obj) -> str:
        labels = _page_text("states", lambda: {k: str(v) for k, v in _STATE_LABELS.items()})
        return labels.get(obj.state, obj.state)

    @admin.display(description=_("提交时间"), ordering="submitted_at")
    def submitted_display(self, obj) -> str:
        return obj.submitted_at.astimezone(_page_timezone()).strftime("%Y-%m-%d %H:%M")

    @admin.display(description=_("截止时间"), ordering="due_at")
    def due_display(self, obj):
        due = obj.due_at.astimezone(_page_timezone()).strftime("%Y-%m-%d %H:%M")
        if obj.is_overdue:
            overdue = _page_text("overdue", lambda: escape(gettext("已超时")))
            return SafeString(f'<strong class="review-alert">{due} ⚠ {overdue}</strong>')
        return due

    @admin.display(description=_("自动检查"))
    def findings_display(self, obj):
        rules = self.list_finding_rules(obj)
        if not rules:
            none = _page_text("no_findings", lambda: escape(gettext("无发现")))
            return SafeString(f'<span class="review-ok">{none}</span>')
        rules = html.escape(", ".join(sorted(rules)))
        return SafeString(f'<strong class="review-alert">{rules}</strong>')

    def action_checkbox(self, obj):
        # Django's renders a CheckboxInput through the form renderer's template for each row
        # (a tenth of the page's time); the same markup, formatted directly (Django's label:
        # format_html(gettext("Select this object for an action - {}"), str(obj))). The row's
        # values are escaped with html.escape, which Django's escape() wraps.
        label = _page_text("select", lambda: gettext("Select this object for an action - {}"))
        return SafeString(
            f'<input type="checkbox" name="{helpers.ACTION_CHECKBOX_NAME}" '
            f'value="{html.escape(str(obj.pk))}" '
            f'class="action-select" aria-label="{label.format(html.escape(str(obj)))}">'
        )

    @admin.display(description=_("操作"))
    def decide_link(self, obj):
        if obj.state != ReviewState.PENDING:
            return "—"
        label = _page_text("decide", lambda: escape(gettext("审核")))
        return SafeString(f'<a class="button" href="{html.escape(self._decide_url(obj))}">{label}</a>')

    # ---- the decision page ---------------------------------------------

    def _url_name(self, suffix: str) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_{suffix}"

    def _decide_url(self, obj) -> str:
        # One reverse() per page (memo), not one per row.
        name = f"admin:{self._url_name('decide')}"
        pattern = memoised(
            ("url", name), lambda: reverse(name, args=[_PK_MARK], current_app=self.admin_site.name)
        )
        return pattern.replace(_PK_MARK, quote(str(obj.pk)))

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    def get_urls(self):
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name=self._url_name("decide"),
        )
        return [decide, *super().get_urls()]

    def _review_extra_context(self, request, obj) -> dict:
        return {
            "review_findings": self.item_findings(obj),
            "review_rows": self.review_context(obj),
            "review_history": review_decisions_for(kind=obj.review_kind, item_id=obj.pk),
            "review_can_decide": obj.state == ReviewState.PENDING and self.has_review_permission(request),
            "review_decide_url": self._decide_url(obj),
            "review_item": obj,
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
        if request.method == "POST" and form.is_valid():
            try:
                if form.cleaned_data["decision"] == ReviewDecisionForm.APPROVE:
                    self.approve_item(item=obj, reviewer=request.user)
                    self.message_user(request, _("已通过：%s") % obj.review_summary(), messages.SUCCESS)
                else:
                    self.reject_item(
                        item=obj,
                        reviewer=request.user,
                        reason_code=form.cleaned_data["reason_code"],
                        reason_text=form.cleaned_data["reason_text"],
                    )
                    self.message_user(request, _("已驳回：%s") % obj.review_summary(), messages.SUCCESS)
            except PermissionDenied:
                raise
            except SmsError as exc:  # already decided, reason missing, shop restricted ...
                self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(changelist)
        context = {
            **self.admin_site.each_context(request),
            **self._review_extra_context(request, obj),
            "opts": self.model._meta,
            "title": _("审核 %s") % obj.review_summary(),
            "form": form,
            "changelist_url": changelist,
            "original": obj,
        }
        return TemplateResponse(request, self.decide_template, context)

    # ---- bulk approve ----------------------------------------------------

    @admin.action(permissions=["review"], description=_("批量通过所选（仅限无自动检查发现的）"))
    def bulk_approve(self, request: HttpRequest, queryset) -> None:
        try:
            result = review_bulk_approve(
                items=queryset.order_by("due_at", "id"),
                reviewer=request.user,
                findings_of=self.item_findings,
                approve=self.approve_item,
            )
        except PermissionDenied:
            raise
        except SmsError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        if result.approved:
            self.message_user(request, _("已通过 %d 条。") % len(result.approved), messages.SUCCESS)
        for item, why in result.skipped:
            text = _("未处理 %(item)s：%(why)s") % {"item": item.review_summary(), "why": why}
            self.message_user(request, text, messages.WARNING)


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    """The audit trail, read-only for everyone (the database refuses changes too)."""

    list_display = [
        "created_at", "kind", "item_id", "item_text", "shop", "action",
        "from_state", "to_state", "actor", "reason_code", "reason_text",
    ]
    list_filter = ["kind", "action", "to_state", "reason_code"]
    search_fields = ["item_text", "reason_text", "=item_id", "actor__username", "shop__name"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "shop"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
