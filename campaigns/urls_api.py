"""The open API's URLs, mounted at /api/v1/ by smsmarketing.urls (a string include).

Every answer under /api/v1/ other than 2xx is JSON ``{code, message}``: ninja answers a method a
path does not have with a plain-text 405, so its views are wrapped to say it in JSON (the
``Allow`` header kept); a path no endpoint has gets a JSON 404.
"""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.utils.translation import gettext as _

from campaigns.api.app import api
from campaigns.api.errors import api_error_response, error_response, not_found


def unknown_path(request: HttpRequest, rest: str = "") -> HttpResponse:
    """A JSON 404 for a path under /api/v1/ that no endpoint has (not the portal's HTML page)."""
    return api_error_response(not_found())


def json_method_not_allowed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)  # keeps ninja's csrf_exempt mark
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code != 405:
            return response
        allowed = response.get("Allow", "")
        message = _("此路径不支持 {method} 方法（支持：{allowed}）。").format(
            method=request.method, allowed=allowed
        )
        return error_response(405, "METHOD-NOT-ALLOWED", message, headers={"Allow": allowed})

    return wrapper


_patterns, _app_name, _namespace = api.urls
_json_patterns = [
    path(str(pattern.pattern), json_method_not_allowed(pattern.callback), name=pattern.name)
    for pattern in _patterns
]

urlpatterns = [
    path("", include((_json_patterns, _app_name), namespace=_namespace)),
    re_path(r"^(?P<rest>.*)$", unknown_path, name="api_unknown"),
]
