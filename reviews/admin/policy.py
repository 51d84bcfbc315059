"""Admin of the content policy: word lists (publishing a new version on save), variables."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from reviews.models.policy import (
    TemplateVariable,
    WordList,
    WordListException,
    WordListRevision,
    WordListTerm,
)
from reviews.services.wordlists import wordlist_publish
from smsmarketing.admin import ReadOnlyAdmin


class WordListTermInline(admin.TabularInline):
    model = WordListTerm
    extra = 3
    fields = ["term", "severity", "note"]


class WordListExceptionInline(admin.TabularInline):
    model = WordListException
    extra = 3
    fields = ["phrase", "note"]
    verbose_name = _("例外（含禁用词但允许的词，如“第一次”之于“第一”）")


@admin.register(WordList)
class WordListAdmin(admin.ModelAdmin):
    """Reviewers edit terms and exceptions; every save that changes them publishes a new version."""

    list_display = ["name", "rule", "version", "term_count", "exception_count", "updated_at"]
    readonly_fields = ["rule", "version", "updated_at"]
    fields = ["rule", "name", "message", "hint", "version", "updated_at"]
    inlines = [WordListTermInline, WordListExceptionInline]

    @admin.display(description=_("禁用词数"))
    def term_count(self, obj) -> int:
        return obj.terms.count()

    @admin.display(description=_("例外数"))
    def exception_count(self, obj) -> int:
        return obj.exceptions.count()

    def has_add_permission(self, request) -> bool:
        return False  # one list per rule, created by a migration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        revision = wordlist_publish(wordlist=form.instance, by=request.user)
        if revision is not None:
            self.message_user(
                request, _("已发布词库新版本 v%(v)d，立即对新的检查生效。") % {"v": revision.version},
                messages.SUCCESS,
            )


@admin.register(WordListRevision)
class WordListRevisionAdmin(ReadOnlyAdmin):
    """Published versions: read-only, so a finding's list_version can always be traced."""

    list_display = ["wordlist", "version", "published_at", "published_by"]
    list_filter = ["wordlist"]
    list_select_related = ["wordlist", "published_by"]


@admin.register(TemplateVariable)
class TemplateVariableAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "type", "example", "max_length", "uses", "position", "active"]
    list_editable = ["position", "active"]
    list_filter = ["type", "active"]

    def get_readonly_fields(self, request, obj=None):
        # Templates store ${name}: renaming a variable would break every template using it.
        return ["name"] if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
