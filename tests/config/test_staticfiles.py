"""What ``collectstatic`` gathers: the site's own files and its libraries', without viewflow's
front end or source maps; the pages' files are still found (and served in tests)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles import finders


def test_collectstatic_leaves_out_viewflows_front_end_and_source_maps() -> None:
    paths = [path for finder in finders.get_finders() for path, _ in finder.list([])]

    assert "admin/css/base.css" in paths
    assert any(p.startswith("drf_spectacular_sidecar/") for p in paths)
    assert not [p for p in paths if p.startswith("viewflow/") or p.endswith(".map")]


def test_the_pages_files_are_found_and_the_test_server_serves_them() -> None:
    assert finders.find("workflows/confirm.js")
    # pytest-django's live server serves static files only when this very name is installed.
    assert "django.contrib.staticfiles" in settings.INSTALLED_APPS
