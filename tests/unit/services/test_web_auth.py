"""The page's login, session cookie and CSRF token (``services.web.auth`` and the API's
``require_key``), on the real application and a real (embedded) Redis, without workers: the
cookie never holds the key and is HttpOnly, SameSite=Strict, Path=/; a request authenticated by
the cookie that changes something needs the session's CSRF token (403 ``csrf_failed``
otherwise), one with the key needs none; a logout ends the session; the comparison pages are
served from their folders only; and without a key the page is open."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from services.api.app import create_app
from services.compose import ComposeError
from services.queue import NewRun
from services.settings import ServiceSettings
from services.web import auth

with warnings.catch_warnings():  # Starlette would rather have httpx2 drive its test client
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

KEY = "sq-unit-5d1c7e3a9b"


class RefusingComposer:
    """Refuses every run: a submission that gets past the key answers 422."""

    def run(self, overrides: Sequence[str]) -> NewRun:
        raise ComposeError("error: refused by the test's composer")

    def sweep(self, overrides: Sequence[str]) -> list[list[str]]:
        raise ComposeError("error: refused by the test's composer")


def _client(redis_url: str, output_dir: Path, key: str | None) -> TestClient:
    values = {"api_key": key} if key else {}
    settings = ServiceSettings.from_mapping(values, output_dir=output_dir)
    if not key:
        settings = settings.replace(api_key=None)  # STORYQA_API_KEY of the environment aside
    return TestClient(create_app(settings, redis_url, RefusingComposer()), follow_redirects=False)


@pytest.fixture
def keyed(redis_url: str, output_dir: Path) -> Iterator[TestClient]:
    with _client(redis_url, output_dir, KEY) as client:
        yield client


def _login(client: TestClient, next_page: str = "/") -> str:
    """Log in; the page's CSRF token."""
    answer = client.post("/login", data={"key": KEY, "next": next_page})
    assert answer.status_code == 303, answer.text
    page = client.get("/")
    assert page.status_code == 200
    token = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', page.text)
    assert token is not None
    return token.group(1)


def test_the_page_sends_a_stranger_to_the_login(keyed: TestClient) -> None:
    for path in ("/", "/ui/submit", "/ui/runs/r1", "/ui/out/service/comparisons/x/a.html"):
        answer = keyed.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert keyed.get("/ui/rows/r1").status_code == 401
    assert keyed.get("/runs").status_code == 401
    login = keyed.get("/login")
    assert login.status_code == 200 and 'type="password"' in login.text
    assert keyed.get("/ui/static/app.js").status_code == 200  # no data in it


def test_a_login_gives_a_strict_httponly_cookie_that_is_not_the_key(keyed: TestClient) -> None:
    wrong = keyed.post("/login", data={"key": "wrong", "next": "/"})
    assert wrong.status_code == 401 and "wrong key" in wrong.text
    assert "set-cookie" not in wrong.headers
    answer = keyed.post("/login", data={"key": KEY, "next": "/ui/submit"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/submit"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{auth.COOKIE}=") and KEY not in cookie
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert keyed.get("/runs").status_code == 200  # the cookie opens the API
    assert KEY not in keyed.get("/").text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\x", "/\t/x"])
def test_the_login_goes_back_to_this_site_only(keyed: TestClient, target: str) -> None:
    answer = keyed.post("/login", data={"key": KEY, "next": target})
    assert answer.headers["location"] == "/"


def test_a_cookie_request_that_changes_something_needs_the_csrf_token(keyed: TestClient) -> None:
    token = _login(keyed)
    body = {"overrides": ["model=lstm"]}
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        refused = keyed.post("/runs", json=body, headers=headers)
        assert refused.status_code == 403, refused.text
        answer = refused.json()
        assert set(answer) == {"code", "message", "request_id"}
        assert answer["code"] == "csrf_failed"
        assert answer["request_id"] == refused.headers["x-request-id"]
    passed = keyed.post("/runs", json=body, headers={"X-CSRF-Token": token})
    assert passed.status_code == 422 and passed.json()["code"] == "invalid_config"
    assert keyed.post("/runs/r1/cancel").status_code == 403
    assert keyed.post("/compare", json={"run_ids": ["r1"]}).status_code == 403
    assert keyed.get("/runs/r1").status_code == 404  # reading needs no token


def test_the_key_needs_no_csrf_token_and_a_wrong_key_is_not_saved_by_a_cookie(
    keyed: TestClient,
) -> None:
    _login(keyed)
    with_key = keyed.post("/runs", json={"overrides": []}, headers={"X-API-Key": KEY})
    assert with_key.status_code == 422
    wrong = keyed.get("/runs", headers={"X-API-Key": "wrong"})
    assert wrong.status_code == 401


def test_a_logout_ends_the_session(keyed: TestClient) -> None:
    token = _login(keyed)
    cookie = keyed.cookies[auth.COOKIE]
    assert keyed.post("/logout").status_code == 403  # no token
    answer = keyed.post("/logout", data={"csrf": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    keyed.cookies.set(auth.COOKIE, cookie)  # a copy kept elsewhere is of no use now
    assert keyed.get("/runs").status_code == 401
    assert keyed.get("/").status_code == 303


def test_comparison_pages_are_served_from_their_folders_only(
    keyed: TestClient, output_dir: Path
) -> None:
    page = output_dir / "service" / "comparisons" / "abc" / "comparison.html"
    page.parent.mkdir(parents=True)
    page.write_text("<h1>storyqa comparison</h1>")
    (output_dir / "service" / "redis.conf").write_text("secret")
    (output_dir / "runs" / "r1").mkdir(parents=True)
    (output_dir / "runs" / "r1" / "manifest.json").write_text("{}")
    _login(keyed)
    served = keyed.get("/ui/out/service/comparisons/abc/comparison.html")
    assert served.status_code == 200 and "storyqa comparison" in served.text
    report = keyed.get("/ui/out/runs/r1/report.html")
    assert report.status_code == 303 and report.headers["location"] == "/runs/r1/report"
    for path in (
        "service/redis.conf",
        "service/comparisons/abc",
        "service/comparisons/abc/../../redis.conf",
        "service/comparisons/abc/%2e%2e/%2e%2e/redis.conf",
        "service/sweeps/x/../../../runs/r1/manifest.json",
        "runs/r1/manifest.json",
    ):
        answer = keyed.get(f"/ui/out/{path}")
        assert answer.status_code == 404, path
        assert answer.json()["code"] == "not_found" and "secret" not in answer.text


def test_without_a_key_the_page_is_open_and_has_no_login(redis_url: str, output_dir: Path) -> None:
    with _client(redis_url, output_dir, None) as client:
        page = client.get("/")
        assert page.status_code == 200 and "Log out" not in page.text
        assert client.get("/login").status_code == 303
        assert client.get("/ui/submit").status_code == 200
        assert client.post("/runs", json={"overrides": []}).status_code == 422
