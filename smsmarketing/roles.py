"""The platform's staff roles.

The "reviewers" group (平台审核员) is created by a migration; the permissions it
holds are listed here, by app label and codename, and re-applied after every
migrate (permissions themselves are created by Django after migrations run).
Apps that add review work append to ``REVIEWER_PERMISSIONS``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

REVIEWER_GROUP = "reviewers"

# (app_label, codename). Kept in one list so a reviewer's powers can be read in one place.
REVIEWER_PERMISSIONS: list[tuple[str, str]] = [
    ("smsmarketing", "view_shop"),
    ("smsmarketing", "view_category"),
    # SMS account: read-only, to answer merchants; grants need smsmarketing.grant_units.
    ("smsmarketing", "view_smsaccount"),
    ("smsmarketing", "view_rechargeorder"),
    ("smsmarketing", "view_rechargepackage"),
    ("smsmarketing", "view_ledgerentry"),
    ("smsmarketing", "view_reservation"),
    # reviews: signatures — decide, see the queue and the audit trail, edit word lists.
    ("reviews", "review_signature"),
    ("reviews", "view_signature"),
    ("reviews", "view_reviewdecision"),
    ("reviews", "view_neutralname"),
    ("reviews", "add_neutralname"),
    ("reviews", "change_neutralname"),
    ("reviews", "view_platformbrandterm"),
    ("reviews", "add_platformbrandterm"),
    ("reviews", "change_platformbrandterm"),
    # reviews: templates and content policy — decide templates, edit word lists and variables.
    ("reviews", "review_template"),
    ("reviews", "view_messagetemplate"),
    ("reviews", "view_officialtemplate"),
    ("reviews", "add_officialtemplate"),
    ("reviews", "view_wordlist"),
    ("reviews", "change_wordlist"),
    ("reviews", "view_wordlistterm"),
    ("reviews", "add_wordlistterm"),
    ("reviews", "change_wordlistterm"),
    ("reviews", "delete_wordlistterm"),
    ("reviews", "view_wordlistexception"),
    ("reviews", "add_wordlistexception"),
    ("reviews", "change_wordlistexception"),
    ("reviews", "delete_wordlistexception"),
    ("reviews", "view_wordlistrevision"),
    ("reviews", "view_templatevariable"),
    # reviews: the confusables table (look-alike/homophone spellings; every change publishes a version).
    ("reviews", "view_confusable"),
    ("reviews", "add_confusable"),
    ("reviews", "change_confusable"),
    ("reviews", "delete_confusable"),
    ("reviews", "view_confusablerevision"),
    # reviews: pattern rules (edit, try, publish) and reviewer-taught rule proposals (a second
    # reviewer publishes or declines them; proposing happens on the decision page).
    ("reviews", "view_contentpattern"),
    ("reviews", "add_contentpattern"),
    ("reviews", "change_contentpattern"),
    ("reviews", "view_patternrevision"),
    ("reviews", "view_ruleproposal"),
    ("reviews", "change_ruleproposal"),
    # campaigns: frequency rules, promotion periods, opt-out keywords; opt-outs read-only.
    ("campaigns", "view_ruleset"),
    ("campaigns", "add_ruleset"),
    ("campaigns", "change_ruleset"),
    ("campaigns", "view_frequencyrule"),
    ("campaigns", "add_frequencyrule"),
    ("campaigns", "change_frequencyrule"),
    ("campaigns", "delete_frequencyrule"),
    ("campaigns", "view_promotionperiod"),
    ("campaigns", "add_promotionperiod"),
    ("campaigns", "change_promotionperiod"),
    ("campaigns", "delete_promotionperiod"),
    ("campaigns", "view_optoutkeyword"),
    ("campaigns", "add_optoutkeyword"),
    ("campaigns", "change_optoutkeyword"),
    ("campaigns", "view_optout"),
    ("campaigns", "view_optoutevent"),
    # campaigns: short links — the allowed landing domains and the link previewers; clicks read-only.
    ("campaigns", "view_landingdomain"),
    ("campaigns", "add_landingdomain"),
    ("campaigns", "change_landingdomain"),
    ("campaigns", "delete_landingdomain"),
    ("campaigns", "view_linkprevieweragent"),
    ("campaigns", "add_linkprevieweragent"),
    ("campaigns", "change_linkprevieweragent"),
    ("campaigns", "delete_linkprevieweragent"),
    ("campaigns", "view_click"),
]


def sync_reviewer_group(**kwargs: Any) -> None:
    """Give the reviewers group exactly the permissions that exist of our list."""
    group, _ = Group.objects.get_or_create(name=REVIEWER_GROUP)
    query = Q(pk__in=[])
    for app_label, codename in REVIEWER_PERMISSIONS:
        query |= Q(content_type__app_label=app_label, codename=codename)
    group.permissions.set(Permission.objects.filter(query))
