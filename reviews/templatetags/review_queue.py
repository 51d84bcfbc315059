"""The review queue's rows, rendered in one pass per row.

Django admin's ``result_list`` formats every cell through ``lookup_field`` /
``display_for_value`` / ``format_html`` and reverses each linked cell's URL: half the queue
page's time for 50 rows (docs/PERFORMANCE.md). The workbench's columns are all its own display
methods returning text or safe HTML, so the same table (same classes, links and checkboxes,
Django's header and results templates) is produced here directly.
"""

from __future__ import annotations

import html

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString

register = template.Library()



@register.inclusion_tag("admin/reviews/queue_results.html")
def review_queue_results(cl) -> dict:
    headers = list(result_headers(cl))
    rows = queue_rows(cl)
    return {
        "cl": cl,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": rows,
        # Django's template loops over the rows and their cells: joined here, the same markup.
        "rows_html": SafeString("\n".join(f"<tr>{row}</tr>" for row in rows)),
    }


def _escape(value) -> str:
    """``conditional_escape`` without its lazy-argument wrapper (11 cells a row): HTML kept,
    anything else ``html.escape``d as Django's ``escape`` does."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def queue_rows(cl) -> list[SafeString]:
    """One ``<td>…</td>`` string per row of ``cl.result_list``, as ``items_for_result`` writes it."""
    model_admin = cl.model_admin
    empty = conditional_escape(model_admin.get_empty_value_display())
    links = set(cl.list_display_links or ())
    # Per column, once per page: its display method (or None: a model attribute) and whether
    # it links to the item.
    columns = []
    for name in cl.list_display:
        attr = getattr(model_admin, name, None)
        columns.append((name, attr if callable(attr) else None, name in links))
    suffix = None  # the preserved filters' query string, parsed once for the page
    rows = []
    for obj in cl.result_list:
        cells = []
        href = None
        for name, display, linked in columns:
            if name == "action_checkbox":
                cells.append(f'<td class="action-checkbox">{display(obj)}</td>')
                continue
            value = display(obj) if display is not None else getattr(obj, name)
            blank = value is None or (isinstance(value, str) and not value.strip())
            text = empty if blank else _escape(value)
            if not linked:
                cells.append(f'<td class="field-{name}">{text}</td>')
                continue
            tag = "td"
            if href is None:  # the row's first link is its header cell
                tag = "th"
                url = cl.url_for_result(obj)
                if suffix is None:
                    context = {"preserved_filters": cl.preserved_filters, "opts": cl.opts}
                    full = add_preserved_filters(context, url)
                    suffix = full[len(url):] if full.startswith(url) else ""
                href = _escape(url + suffix)
            cells.append(f'<{tag} class="field-{name}"><a href="{href}">{text}</a></{tag}>')
        rows.append(SafeString("".join(cells)))
    return rows
