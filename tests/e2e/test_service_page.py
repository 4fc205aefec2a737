"""The service's web page as a person uses it, in a real browser: the system's Chromium
(Debian's ``chromium``), driven by Playwright, against ``storyqa-service start`` with an API key
and two workers. Log in; submit a tiny run through the form (a bad key first: its ``error:``
line, nothing queued) and watch it reach ``finished`` in the runs table without a reload; its
learning curve drawn and its report; compare it; cancel a longer run from its page and resume
it; log out. The session cookie is HttpOnly and SameSite=Strict and is not the key, a request
with the cookie but not the CSRF token is refused (403), and the key is in no URL the browser
asked for and no page it showed.

Skipped, saying why, where Chromium or Playwright is missing; under ``CI=true`` that fails
instead (``make test`` installs Debian's ``chromium`` when it runs as root).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

if importlib.util.find_spec("playwright") is not None:
    from playwright.sync_api import expect

from tests.e2e.service_helpers import RUN, Service, running_service

pytestmark = pytest.mark.slow

KEY = "sq-page-3b8e1f7a9c2d4e60"
CHROMIUM = Path("/usr/bin/chromium")
#: Headless, and nothing that would reach beyond this machine.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The tiny run's overrides that the form has no field of its own for.
EXTRA = [o for o in RUN if not o.startswith(("model=", "data.size="))]
#: Seconds a page waits for the service (a tiny run takes about 25 s, data generation included).
WAIT_MS = 150_000


def _no_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -e '.[dev]')"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium; make test does it as root)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _no_browser()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the page's browser test cannot run under CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("page")
    with running_service(folder, "service.workers=2", key=KEY) as started:
        yield started


class Visit:
    """A browser context's page, with every URL it asked for and every page it showed."""

    def __init__(self, context: Any):
        self.context = context
        self.urls: list[str] = []
        self.pages: list[str] = []
        context.on("request", lambda request: self.urls.append(request.url))
        self.page = context.new_page()
        self.page.set_default_timeout(30_000)

    def seen(self) -> None:
        """Keep the page's HTML as it is now."""
        self.pages.append(self.page.content())


@pytest.fixture(scope="module")
def visit(browser: Any, service: Service) -> Iterator[Visit]:
    context = browser.new_context(base_url=service.url, viewport={"width": 1400, "height": 1000})
    yield Visit(context)
    context.close()


def _session_cookie(visit: Visit) -> dict[str, Any]:
    (cookie,) = [c for c in visit.context.cookies() if c["name"] == "storyqa_session"]
    return dict(cookie)


def test_log_in_and_the_session_cookie(visit: Visit, service: Service) -> None:
    page = visit.page
    page.goto("/")
    page.wait_for_url(re.compile(r"/login\?next=%2F$"))
    page.fill("#key", "not-the-key")
    page.click("button[type=submit]")
    assert "wrong key" in page.inner_text("#login-error")
    assert not visit.context.cookies()
    page.fill("#key", KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"{service.url}/")
    page.wait_for_selector("#live.on")  # the runs table's event stream is open
    visit.seen()
    cookie = _session_cookie(visit)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert KEY not in cookie["value"]


def test_a_cookie_without_the_csrf_token_is_refused(visit: Visit, service: Service) -> None:
    cookies = {"storyqa_session": _session_cookie(visit)["value"]}
    token = visit.page.get_attribute('meta[name="csrf-token"]', "content")
    assert token and re.fullmatch(r"[0-9a-f]{64}", token)
    with httpx.Client(base_url=service.url, cookies=cookies, timeout=30) as browser_like:
        assert browser_like.get("/runs").status_code == 200
        for headers in ({}, {"X-CSRF-Token": "f" * 64}):
            refused = browser_like.post("/compare", json={"run_ids": ["r1"]}, headers=headers)
            assert refused.status_code == 403, refused.text
            answer = refused.json()
            assert answer["code"] == "csrf_failed"
            assert set(answer) == {"code", "message", "request_id"}
        passed = browser_like.post(
            "/compare", json={"run_ids": ["r1"]}, headers={"X-CSRF-Token": token}
        )
        assert passed.status_code == 404  # past the CSRF check: no run r1
    stranger = httpx.post(f"{service.url}/compare", json={"run_ids": ["r1"]}, timeout=30)
    assert stranger.status_code == 401


def test_a_run_submitted_through_the_form_finishes_live_with_its_curve_and_report(
    visit: Visit, service: Service
) -> None:
    page = visit.page
    page.goto("/ui/submit")
    page.select_option("#model", "lstm")
    page.select_option("#size", "tiny")
    page.fill("#overrides", "model.nope=1")
    page.click("#submit")
    page.wait_for_selector("#submit-error:visible")
    assert page.inner_text("#submit-error").startswith("error: Could not override 'model.nope'")
    assert service.http.get("/runs").json()["runs"] == []  # nothing queued
    page.fill("#overrides", " ".join(EXTRA))
    page.fill("#epochs", "3")
    page.fill("#seeds", "0")
    assert page.inner_text("#command").startswith(
        "storyqa-service submit model=lstm data.size=tiny trainer.max_epochs=3 seed=0"
    )
    visit.seen()
    page.click("#submit")
    page.wait_for_url(re.compile(r"/ui/runs/lstm-"))
    run_id = page.url.rsplit("/", 1)[1]

    page.goto("/")
    page.wait_for_selector("#live.on")
    row = f'#runs tr[data-run-id="{run_id}"]'
    assert page.get_attribute(row, "data-status") in ("queued", "running")
    page.wait_for_selector(f'{row}[data-status="finished"]', timeout=WAIT_MS)  # no reload
    assert page.inner_text(f"{row} td.progress") == "3/3"
    visit.seen()

    page.click(f'{row} a[href="/ui/runs/{run_id}"]')
    for chart, line in (("accuracy", "val"), ("accuracy", "train"), ("loss", "val")):
        expect(page.locator(f"#chart-{chart} g.{line} circle.point")).to_have_count(3)
    expect(page.locator("#log")).to_contain_text("ended: finished")
    visit.seen()
    with page.expect_popup() as popup:
        page.click("#report")
    report = popup.value
    report.wait_for_load_state()
    assert report.url.endswith(f"/runs/{run_id}/report")
    assert "Learning curve" in report.inner_text("body")
    report.close()

    page.goto("/")
    page.check(f"{row} input.pick")
    page.click("#compare")
    page.wait_for_selector("#comparison table.headline")
    assert "test" in page.inner_text("#comparison table.headline")
    visit.seen()
    with page.expect_popup() as popup:
        page.click("#comparison-page")
    comparison = popup.value
    comparison.wait_for_load_state()
    assert comparison.title() == "storyqa comparison"
    assert re.search(r"/ui/out/service/comparisons/[0-9a-f]+/comparison\.html$", comparison.url)
    comparison.close()


def test_a_longer_run_is_cancelled_and_resumed_from_its_page(
    visit: Visit, service: Service
) -> None:
    run_id = service.submit(*RUN, "trainer.max_epochs=60")
    page = visit.page
    page.goto(f"/ui/runs/{run_id}")
    page.wait_for_selector("#chart-accuracy g.val circle.point", timeout=WAIT_MS)  # it trains
    badge = page.locator(".run-head .badge")
    assert badge.inner_text() == "running"
    page.click("button[data-action=cancel]")
    page.wait_for_selector('.run-head[data-status="canceled"]', timeout=WAIT_MS)
    status = service.status(run_id)
    assert status["status"] == "canceled" and 0 < status["epoch"] < 60
    visit.seen()
    page.click("button[data-action=resume]")
    page.wait_for_selector('.run-head[data-status="running"]', timeout=WAIT_MS)
    assert service.status(run_id)["attempt"] == 2
    page.click("button[data-action=cancel]")
    page.wait_for_selector('.run-head[data-status="canceled"]', timeout=WAIT_MS)
    expect(page.locator("#log")).to_contain_text("attempt 2")
    visit.seen()


def test_logout_and_the_key_is_in_no_url_and_no_page(visit: Visit, service: Service) -> None:
    page = visit.page
    page.goto("/")
    visit.seen()
    page.click("form.logout button")
    page.wait_for_url(re.compile(r"/login$"))
    assert not [c for c in visit.context.cookies() if c["name"] == "storyqa_session"]
    page.goto("/ui/submit")
    page.wait_for_url(re.compile(r"/login\?next="))
    assert len(visit.urls) > 20 and any("/events" in url for url in visit.urls)
    assert not [url for url in visit.urls if KEY in url]
    assert len(visit.pages) >= 6 and not [html for html in visit.pages if KEY in html]
    assert KEY not in service.log.read_text(errors="replace")
