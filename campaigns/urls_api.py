"""The open API's URLs, mounted at /api/v1/ by smsmarketing.urls (a string include)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path

from campaigns.api.app import api
from campaigns.api.errors import api_error_response, not_found


def unknown_path(request: HttpRequest, rest: str = "") -> HttpResponse:
    """A JSON 404 for a path under /api/v1/ that no endpoint has (not the portal's HTML page)."""
    return api_error_response(not_found())


urlpatterns = [
    path("", api.urls),
    re_path(r"^(?P<rest>.*)$", unknown_path, name="api_unknown"),
]
