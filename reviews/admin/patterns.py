"""Admin of pattern rules (edit a draft, try it, publish it) and of reviewer-taught rule proposals
(a second reviewer sees the dry run, then publishes or declines).

Both are thin adapters over ``reviews.services.patterns`` and ``reviews.services.proposals``: the
pages parse the request, call one service and render its result; every write checks its
permission in the service.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from reviews.findings import Finding
from reviews.models.patterns import ContentPattern, PatternRevision, ProposalStatus, RuleProposal
from reviews.policy.highlight import marked_segments
from reviews.policy.patterns import pattern_findings
from reviews.policy.variables import tokens, variable_specs
from reviews.services.patterns import pattern_draft, pattern_examples, pattern_publish, pattern_published
from reviews.services.proposals import dry_run, proposal_dry_run, rule_proposal_decline, rule_proposal_publish
from smsmarketing.admin import ReadOnlyAdmin
from smsmarketing.errors import SmsError

TRY_TEXT_CHARS = 500


class AdminReviewMedia:
    class Media:
        css = {"all": ["portal/admin-review.css"]}


def _masked(text: str) -> list[tuple[int, int]]:
    return [(t.start, t.end) for t in tokens(text)]


class PatternTryForm(forms.Form):
    text = forms.CharField(
        label=_("试一试"),
        max_length=TRY_TEXT_CHARS,
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": _("输入一段短信内容，查看草稿和已发布版本是否命中")}
        ),
    )


@admin.register(ContentPattern)
class ContentPatternAdmin(AdminReviewMedia, admin.ModelAdmin):
    """Reviewers edit a draft; 试一试并发布 shows it on a text, its examples and its dry run, and
    publishes it (examples must hold). The checker reads published versions only."""

    list_display = ["name", "rule", "severity", "max_gap", "ordered", "version", "active", "updated_at"]
    list_filter = ["rule", "active"]
    search_fields = ["name", "first_terms", "second_terms"]
    readonly_fields = ["version", "updated_at"]
    fields = [
        "rule",
        "name",
        "first_terms",
        "second_terms",
        "max_gap",
        "ordered",
        "exceptions",
        "severity",
        "message",
        "hint",
        "examples",
        "counter_examples",
        "active",
        "version",
        "updated_at",
    ]
    try_template = "admin/reviews/pattern_try.html"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # published versions stay traceable: deactivate and publish instead

    def _try_url(self, obj) -> str:
        return reverse("admin:reviews_contentpattern_try", args=[obj.pk], current_app=self.admin_site.name)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/try/", view(self.try_view), name="reviews_contentpattern_try"),
            path(
                "<path:object_id>/publish/",
                view(require_POST(self.publish_view)),
                name="reviews_contentpattern_publish",
            ),
            *super().get_urls(),
        ]

    def response_post_save_add(self, request, obj):
        self.message_user(request, _("草稿已保存，尚未发布：请试一试，确认例句后发布。"), messages.INFO)
        return HttpResponseRedirect(self._try_url(obj))

    def response_post_save_change(self, request, obj):
        self.message_user(request, _("草稿已保存，尚未发布：请试一试，确认例句后发布。"), messages.INFO)
        return HttpResponseRedirect(self._try_url(obj))

    def try_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        pattern = get_object_or_404(ContentPattern, pk=object_id)
        if not self.has_view_or_change_permission(request, pattern):
            raise PermissionDenied
        form = PatternTryForm(request.GET or None)
        text = form.cleaned_data["text"] if form.is_valid() else ""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "media": self.media,
            "title": _("试一试并发布：%s") % pattern.name,
            "pattern": pattern,
            "form": form,
            "can_publish": self.has_change_permission(request, pattern),
            "publish_url": reverse("admin:reviews_contentpattern_publish", args=[pattern.pk]),
            "change_url": reverse("admin:reviews_contentpattern_change", args=[pattern.pk]),
        }
        try:
            draft = pattern_draft(pattern)
        except SmsError as exc:
            context["draft_error"] = exc.message
            return TemplateResponse(request, self.try_template, context)
        published = pattern_published(pattern)
        if text:
            specs = variable_specs()
            context["draft_marked"] = _marked(text, [draft], specs)
            context["published_marked"] = _marked(text, [published], specs) if published else None
            context["draft_hits"] = len(pattern_findings(text=text, patterns=[draft], masked=_masked(text)))
        context["examples"] = pattern_examples(pattern, draft)
        context["dry_run"] = dry_run(
            lambda body: pattern_findings(text=body, patterns=[draft], masked=_masked(body))
        )
        return TemplateResponse(request, self.try_template, context)

    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        pattern = get_object_or_404(ContentPattern, pk=object_id)
        try:
            revision = pattern_publish(pattern=pattern, by=request.user)
        except PermissionDenied:
            raise
        except SmsError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(self._try_url(pattern))
        if revision is None:
            self.message_user(request, _("内容与当前版本相同，无需发布。"), messages.INFO)
        else:
            self.message_user(
                request, _("已发布 v%(v)d，立即对新的检查生效。") % {"v": revision.version}, messages.SUCCESS
            )
        return HttpResponseRedirect(self._try_url(pattern))


def _marked(text: str, patterns, specs) -> list:
    return marked_segments(text, pattern_findings(text=text, patterns=patterns, masked=_masked(text)), specs)


@admin.register(PatternRevision)
class PatternRevisionAdmin(ReadOnlyAdmin):
    """Published versions, read-only, so a finding's version can always be traced."""

    list_display = ["pattern", "version", "published_at", "published_by"]
    list_filter = ["pattern"]
    list_select_related = ["pattern", "published_by"]


class ProposalStatusFilter(admin.SimpleListFilter):
    """Pending proposals by default (the second reviewer's queue)."""

    title = _("状态")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*ProposalStatus.choices, ("all", _("全部"))]

    def choices(self, changelist):
        current = self.value() or ProposalStatus.PENDING
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or ProposalStatus.PENDING
        return queryset if value == "all" else queryset.filter(status=value)


class ProposalDeclineForm(forms.Form):
    # The input sits in the proposal page's own form area; it belongs to the decline form.
    reason = forms.CharField(
        label=_("未采纳原因"), max_length=200, widget=forms.TextInput(attrs={"form": "proposal-decline-form"})
    )


@admin.register(RuleProposal)
class RuleProposalAdmin(AdminReviewMedia, admin.ModelAdmin):
    """The queue of rules taught by reviewers. The page of a proposal shows the item it came from
    with the span marked and the dry run over pending and recently reviewed items; another
    reviewer than the proposer publishes it (发布) or declines it with a reason."""

    list_display = [
        "id",
        "kind",
        "rule",
        "text",
        "canonical",
        "status",
        "proposed_by",
        "proposed_at",
        "decided_by",
    ]
    list_display_links = ["id", "text"]
    list_filter = [ProposalStatusFilter, "kind", "rule"]
    list_select_related = ["proposed_by", "decided_by"]
    ordering = ["proposed_at", "id"]
    change_form_template = "admin/reviews/proposal_change_form.html"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # proposals are made on the decision page of a rejected item

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/publish/",
                view(require_POST(self.publish_view)),
                name="reviews_ruleproposal_publish",
            ),
            path(
                "<path:object_id>/decline/",
                view(require_POST(self.decline_view)),
                name="reviews_ruleproposal_decline",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        proposal = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        extra.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        extra["title"] = _("复核规则提案")
        if proposal is not None:
            extra.update(self._proposal_context(request, proposal))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _proposal_context(self, request, proposal: RuleProposal, decline_form=None) -> dict:
        source = Finding(
            rule=proposal.rule,
            start=proposal.span_start,
            end=proposal.span_end,
            severity=proposal.severity,
            message=str(_("审核员选中的文字")),
            hint="",
        )
        pending = proposal.status == ProposalStatus.PENDING
        context = {
            "proposal": proposal,
            "proposal_marked": marked_segments(proposal.item_text, [source], variable_specs()),
            "proposal_pending": pending,
            "proposal_own": proposal.proposed_by_id == request.user.pk,
            "proposal_rule_label": proposal.get_rule_display(),
            "proposal_item_label": _("签名") if proposal.item_kind == "signature" else _("模板"),
            "decline_form": decline_form or ProposalDeclineForm(),
            "publish_url": reverse("admin:reviews_ruleproposal_publish", args=[proposal.pk]),
            "decline_url": reverse("admin:reviews_ruleproposal_decline", args=[proposal.pk]),
        }
        if pending:
            try:
                context["dry_run"] = proposal_dry_run(proposal)
            except SmsError as exc:
                context["dry_run_error"] = exc.message
        return context

    def _back(self, proposal) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:reviews_ruleproposal_change", args=[proposal.pk]))

    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        proposal = get_object_or_404(RuleProposal, pk=object_id)
        try:
            published = rule_proposal_publish(proposal=proposal, reviewer=request.user)
        except PermissionDenied:
            raise
        except SmsError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return self._back(proposal)
        self.message_user(
            request,
            _("已发布规则提案 #%(id)d（%(rule)s 新版本 v%(v)d），立即对新的检查生效。")
            % {"id": published.pk, "rule": published.rule, "v": published.published_version},
            messages.SUCCESS,
        )
        return self._back(proposal)

    def decline_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        proposal = get_object_or_404(RuleProposal, pk=object_id)
        form = ProposalDeclineForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("请填写未采纳的原因。"), messages.ERROR)
            return self._back(proposal)
        try:
            rule_proposal_decline(
                proposal=proposal, reviewer=request.user, reason=form.cleaned_data["reason"]
            )
        except PermissionDenied:
            raise
        except SmsError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return self._back(proposal)
        self.message_user(request, _("已标记为未采纳：提案 #%d") % proposal.pk, messages.SUCCESS)
        return self._back(proposal)
