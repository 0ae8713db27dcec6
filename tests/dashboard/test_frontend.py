"""The built dashboard is served at ``/`` and ``/assets/``; a missing build says how to make it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client, override_settings

import tests.dashboard.djangoenv  # noqa: F401  # isort: skip  (sets Django up)

from dashboard.frontend import BUILD_HINT


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><meta name="csrf-token" content="__CSRF_TOKEN__"><title>podscope</title>'
    )
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1);")
    (tmp_path / "secret.txt").write_text("not an asset")
    return tmp_path


def test_index_page_is_the_build(dist: Path) -> None:
    with override_settings(FRONTEND_DIST=str(dist)):
        response = Client().get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "no-cache"
    assert b"<title>podscope</title>" in response.content


def test_index_page_carries_the_csrf_token_of_its_cookie(dist: Path) -> None:
    client = Client(enforce_csrf_checks=True)
    with override_settings(FRONTEND_DIST=str(dist)):
        response = client.get("/")
    token = re.search(r'name="csrf-token" content="([^"]+)"', response.content.decode())
    assert token is not None
    assert token[1] != "__CSRF_TOKEN__"
    assert "csrftoken" in response.cookies


def test_asset_is_served_with_its_type_and_long_cache(dist: Path) -> None:
    with override_settings(FRONTEND_DIST=str(dist)):
        response = Client().get("/assets/index-abc.js")
    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]
    assert "immutable" in response["Cache-Control"]
    assert response.getvalue() == b"console.log(1);"


@pytest.mark.parametrize("name", ["../secret.txt", "..%2Fsecret.txt", "missing.js", ""])
def test_only_files_under_assets_are_served(dist: Path, name: str) -> None:
    with override_settings(FRONTEND_DIST=str(dist)):
        response = Client().get(f"/assets/{name}")
    assert response.status_code == 404


def test_missing_build_answers_503_with_the_command(tmp_path: Path) -> None:
    with override_settings(FRONTEND_DIST=str(tmp_path / "nothing")):
        response = Client().get("/")
    assert response.status_code == 503
    assert response.content.decode() == BUILD_HINT
