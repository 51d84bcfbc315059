"""The static files storage (smsmarketing.staticfiles) gives WhiteNoise's URLs, built once."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from whitenoise.storage import CompressedManifestStaticFilesStorage

from smsmarketing.staticfiles import StaticFilesStorage

NAMES = ["admin/css/base.css", "portal/portal.css", "portal/app.js#top", "fonts/icons.woff?#iefix"]


@pytest.fixture
def static_root(tmp_path):
    (tmp_path / "staticfiles.json").write_text(json.dumps({
        "version": "1.1",
        "hash": "x",
        "paths": {
            "admin/css/base.css": "admin/css/base.1a2b3c.css",
            "portal/portal.css": "portal/portal.4d5e6f.css",
            "portal/app.js": "portal/app.777777.js",
            "fonts/icons.woff": "fonts/icons.888888.woff",
        },
    }))  # fmt: skip
    return tmp_path


def _storages(static_root):
    return (StaticFilesStorage(location=static_root, base_url="/static/"),
            CompressedManifestStaticFilesStorage(location=static_root, base_url="/static/"))


def test_it_gives_whitenoises_urls_on_every_call(static_root):
    ours, whitenoise = _storages(static_root)
    for _ in range(2):
        assert [ours.url(name) for name in NAMES] == [whitenoise.url(name) for name in NAMES]
    assert ours.url("admin/css/base.css") == "/static/admin/css/base.1a2b3c.css"
    assert ours.url("portal/app.js#top") == "/static/portal/app.777777.js#top"
    assert set(ours._urls) == set(NAMES)


def test_it_gives_the_plain_url_under_debug_and_refuses_missing_files_each_time(static_root):
    ours, whitenoise = _storages(static_root)
    assert ours.url("admin/css/base.css") == "/static/admin/css/base.1a2b3c.css"
    with override_settings(DEBUG=True):
        assert ours.url("admin/css/base.css") == whitenoise.url("admin/css/base.css") == (
            "/static/admin/css/base.css")
        assert ours.url("portal/portal.css", force=True) == "/static/portal/portal.4d5e6f.css"
        assert ours.url("portal/portal.css") == "/static/portal/portal.css"
    assert ours.url("admin/css/base.css", force=True) == whitenoise.url("admin/css/base.css", force=True)
    for _ in range(2):
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            ours.url("portal/missing.css")
    assert "portal/missing.css" not in ours._urls
