"""Teaching a rule on the decision page: the reviewer who rejects an item selects the offending
span of its text (``static/portal/teach-rule.js`` fills ``start``/``end``) and picks the rule and
the kind of rule; rejecting then files a ``RuleProposal`` for a second reviewer."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from reviews.models.patterns import MAX_PATTERN_GAP, SIGNATURE_RULES, ProposalKind
from reviews.models.policy import WordList
from reviews.policy.variables import VariableSpec, tokens
from reviews.services.proposals import DEFAULT_PATTERN_GAP, MAX_PROPOSAL_CHARS, rule_proposal_create


class RuleTeachForm(forms.Form):
    """Optional part of the reject decision (prefix ``teach``). Without a span nothing is proposed."""

    start = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    end = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    kind = forms.ChoiceField(
        label=_("作为"),
        choices=ProposalKind.choices,
        initial=ProposalKind.TERM,
        required=False,
        widget=forms.RadioSelect,
    )
    rule = forms.ChoiceField(
        label=_("规则"), choices=[("", "---------"), *WordList.Rule.choices], required=False
    )
    canonical = forms.CharField(
        label=_("对应的词"),
        required=False,
        max_length=MAX_PROPOSAL_CHARS,
        help_text=_("形近/谐音：被模仿的词（如“微信”）；组合规则：第二组词（如“红包”）。"),
    )
    max_gap = forms.IntegerField(
        label=_("最大间隔字数"),
        required=False,
        min_value=0,
        max_value=MAX_PATTERN_GAP,
        initial=DEFAULT_PATTERN_GAP,
        help_text=_("仅组合规则：两组词之间最多相隔的字数。"),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "teach")
        super().__init__(*args, **kwargs)

    @property
    def has_span(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return data.get("start") is not None and data.get("end") is not None

    def clean(self):
        data = super().clean()
        data["kind"] = data.get("kind") or ProposalKind.TERM
        spanned = data.get("start") is not None and data.get("end") is not None
        if spanned and not data.get("rule"):
            self.add_error("rule", _("已选中文字：请选择它违反的规则。"))
        if not spanned and data.get("rule"):
            self.add_error(None, _("请先在上面的文本中选中违规的文字，再选择规则。"))
        return data


class SignatureTeachForm(RuleTeachForm):
    """A signature teaches its own lists (neutral names, brand terms) or a confusable."""

    kind = forms.ChoiceField(
        label=_("作为"),
        choices=[
            (ProposalKind.TERM, _("新增通用/中性名称或平台品牌词")),
            (ProposalKind.CONFUSABLE, ProposalKind.CONFUSABLE.label),
        ],
        initial=ProposalKind.TERM,
        required=False,
        widget=forms.RadioSelect,
    )
    rule = forms.ChoiceField(
        label=_("规则"), choices=[("", "---------"), *SIGNATURE_RULES.items()], required=False
    )
    canonical = forms.CharField(
        label=_("对应的词"),
        required=False,
        max_length=MAX_PROPOSAL_CHARS,
        help_text=_("形近/谐音：被模仿的词（如“京东”）。"),
    )
    max_gap = None


def teach_proposal(*, item, reviewer, form: RuleTeachForm) -> str:
    """File the proposal the form describes; the success message for the reviewer."""
    data = form.cleaned_data
    proposal = rule_proposal_create(
        item=item,
        reviewer=reviewer,
        kind=data["kind"],
        rule=data["rule"],
        start=data["start"],
        end=data["end"],
        canonical=data.get("canonical") or "",
        max_gap=data.get("max_gap"),
    )
    return _("已提交规则提案 #%(id)d（%(kind)s“%(text)s”），等待另一位审核员复核后发布。") % {
        "id": proposal.pk,
        "kind": proposal.get_kind_display(),
        "text": proposal.text,
    }


@dataclass(frozen=True)
class TeachSegment:
    """A piece of the item's text with its position, for the selection script: plain text maps
    one character to one position; a variable token is one chip covering [start, end)."""

    text: str
    start: int
    end: int
    variable: str = ""


def teach_segments(text: str, specs: dict[str, VariableSpec]) -> list[TeachSegment]:
    segments, index = [], 0
    for token in tokens(text):
        spec = specs.get(token.name)
        if index < token.start:
            segments.append(TeachSegment(text[index : token.start], index, token.start))
        label = spec.label if spec is not None else text[token.start : token.end]
        segments.append(TeachSegment(label, token.start, token.end, variable=text[token.start : token.end]))
        index = token.end
    if index < len(text):
        segments.append(TeachSegment(text[index:], index, len(text)))
    return segments
