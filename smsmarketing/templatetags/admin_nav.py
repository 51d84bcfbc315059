"""The admin's navigation sidebar, written in Python.

Django renders ``admin/app_list.html`` for the sidebar of every admin page: for each of the
~40 registered models three ``request.path|urlencode`` filters, ``{% translate %}`` tags and
``{% with %}`` blocks, a quarter of the review queue's time (docs/PERFORMANCE.md). This tag
writes the same markup (``show_changelinks=False``, as ``admin/nav_sidebar.html`` includes it)
in one pass: ``tests/smsmarketing/test_admin_nav.py`` compares it with Django's template.
"""

from __future__ import annotations

import html
from urllib.parse import quote

from django import template
from django.utils.safestring import SafeString
from django.utils.translation import gettext

register = template.Library()


def escape(text) -> str:
    """``django.utils.html.escape`` without its ``keep_lazy`` wrapper (which looks for lazy
    arguments on each of the ~90 calls of a sidebar): the same text, every value here is a str."""
    return html.escape(str(text))


@register.simple_tag(takes_context=True)
def nav_app_list(context) -> SafeString:
    apps = context.get("available_apps")
    if not apps:
        return SafeString(f"<p>{escape(gettext('You don’t have permission to view or edit anything.'))}</p>")
    request = context.get("request")
    path = quote(request.path, safe="/") if request is not None else ""  # the |urlencode filter
    head = (
        '<thead class="visually-hidden"><tr>'
        f'<th scope="col">{escape(gettext("Model name"))}</th>'
        f'<th scope="col">{escape(gettext("Add link"))}</th>'
        f'<th scope="col">{escape(gettext("Change or view list link"))}</th>'
        "</tr></thead>"
    )
    add = escape(gettext("Add"))
    out = []
    for app in apps:
        label = escape(app["app_label"])
        app_url = app["app_url"]
        current = " current-app" if app_url in path else ""
        title = escape(gettext("Models in the %(name)s application") % {"name": escape(app["name"])})
        out.append(
            f'<div class="app-{label} module{current}"><table><caption>'
            f'<a href="{escape(app_url)}" class="section" title="{title}">{escape(app["name"])}</a>'
            f"</caption>{head}"
        )
        for model in app["models"]:
            model_name = escape(str(model["object_name"]).lower())
            cell_id = f"{label}-{model_name}"
            admin_url = model.get("admin_url")
            here = bool(admin_url) and admin_url in path
            out.append(f'<tr class="model-{model_name}{" current-model" if here else ""}">')
            name = escape(model["name"])
            if admin_url:
                aria = ' aria-current="page"' if here else ""
                link = f'<a href="{escape(admin_url)}"{aria}>{name}</a>'
                out.append(f'<th scope="row" id="{cell_id}">{link}</th>')
            else:
                out.append(f'<th scope="row" id="{cell_id}">{name}</th>')
            add_url = model.get("add_url")
            if add_url:
                link = f'<a href="{escape(add_url)}" class="addlink" aria-describedby="{cell_id}">{add}</a>'
                out.append(f"<td>{link}</td>")
            else:
                out.append("<td></td>")
            out.append("</tr>")
        out.append("</table></div>")
    return SafeString("".join(out))
