"""The main journey in a real browser (Debian's chromium driven by Playwright), against a live
server and the real worker: log in, launch a real Tunix run from the form's preset and watch it
finish, create a model, promote the Tunix run, download and check the version, tune lora_demo on
Ray, promote the best trial, then curate: edit tags in place, point an alias, tighten its gate
and see the refusal. Any browser console error fails it. With SCREENSHOTS_DIR, each page checked
is saved at a desktop and a phone width.
"""

import hashlib
import os
import re
import subprocess
import threading
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections

from registry.models import ModelArtifact, ModelVersion
from runs.models import TunixRun
from runs.tests.factories import UserFactory
from runs.tests.queue import work_off_the_queue

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
PASSWORD = "a long e2e password 42"
# `make screenshots` sets this: each page the journey checks is saved there as a PNG.
UUID_IN_PATH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SCREENSHOTS = Path(os.environ["SCREENSHOTS_DIR"]) if os.environ.get("SCREENSHOTS_DIR") else None
# The widths the pages must read well at: a laptop, and a phone (saved as NAME-phone.png).
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The live server's request threads and this test use one SQLite connection (an in-memory test
# database cannot be opened twice), and Django's transaction state on a connection is not
# thread-safe: a poll answered while the worker writes could interleave two atomic blocks on it.
# So requests and the test's own database work take turns; a poll that arrives while the worker
# runs waits for it.
DATABASE_TURN = threading.RLock()


class TakeTurns:
    """Middleware: a request's view runs holding the database turn."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with DATABASE_TURN:
            return self.get_response(request)


def in_turn(work, *args, **kwargs):
    """Run `work` (ORM calls, the worker) holding the database turn."""
    with DATABASE_TURN:
        return work(*args, **kwargs)


@pytest.fixture
def live_server(settings):
    """A live server for this test only, stopped (connections closed) before the database goes."""
    from pytest_django.live_server_helper import LiveServer

    settings.MIDDLEWARE = ["registry.tests.test_e2e.TakeTurns", *settings.MIDDLEWARE]
    server = LiveServer("localhost:0")
    yield server
    server.stop()


@pytest.fixture
def browser_page(live_server, settings, monkeypatch):
    if not CHROMIUM.exists():
        if os.environ.get("E2E_REQUIRED"):
            pytest.fail(f"{CHROMIUM} is missing: run `make browser`.")
        pytest.skip(f"{CHROMIUM} is not installed (`make browser` installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; our ORM calls here are still
    # plain synchronous code, which Django otherwise refuses next to a running loop.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    settings.REGISTRY_DOWNLOADS_ENABLED = True
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport=DESKTOP, accept_downloads=True)
        page.console_errors = []
        page.on(
            "console",
            lambda message: (
                page.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        page.base = live_server.url
        yield page
        browser.close()
        # What the turns guard against, checked: a later test's on_commit would never run.
        assert not connection.in_atomic_block, "the shared connection was left in a transaction"
        # Playwright's sync API switches contexts, so ORM calls in the test may have opened
        # connections the test database's teardown would otherwise find still in use.
        connections.close_all()
    connections.close_all()


def assert_accessible(page) -> None:
    """Every visible form control has a label, every button a name, and Tab reaches a link."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.name || el.id)"""
    )
    nameless = page.evaluate(
        """() => [...document.querySelectorAll('button, [role=button]')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.textContent.trim() || el.getAttribute('aria-label')))
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == [], f"form controls without a label on {page.url}: {unlabelled}"
    assert nameless == [], f"buttons without a name on {page.url}: {nameless}"
    # Playwright's accessibility (ARIA) snapshot: no control the tree exposes without a name.
    snapshot = page.locator("body").aria_snapshot()
    unnamed = [
        line.strip()
        for line in snapshot.splitlines()
        if re.match(r"^\s*- (button|textbox|combobox|checkbox|link)\s*(:|$)", line)
    ]
    assert unnamed == [], f"controls without an accessible name on {page.url}: {unnamed}"
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement && document.activeElement.tagName")
    assert focused in ("A", "BUTTON", "INPUT", "SELECT", "TEXTAREA", "SUMMARY")
    page.set_viewport_size(PHONE)
    assert_fits(page)
    page.set_viewport_size(DESKTOP)
    save_screenshots(page)


def save_screenshots(page, suffix: str = "") -> None:
    """With SCREENSHOTS_DIR, save the page at both widths: NAME.png and NAME-phone.png."""
    if not SCREENSHOTS:
        return
    path = page.url.split("//", 1)[1].split("/", 1)[1].split("?", 1)[0]
    # A run's id is random: name its picture after the run, so the README can link it.
    if UUID_IN_PATH.search(path):
        path = UUID_IN_PATH.sub(page.locator("h1").inner_text(), path)
    name = (re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home") + suffix
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def assert_fits(page) -> None:
    """Nothing makes the page wider than the window (wide tables scroll inside their box)."""
    wider = page.evaluate(
        """() => document.documentElement.scrollWidth <= window.innerWidth ? [] :
            [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
            .map(el => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className)
            .slice(0, 8)"""
    )
    assert wider == [], f"wider than a phone on {page.url}: {wider}"


def test_the_main_journey_in_a_browser(browser_page, tmp_path):
    page, base = browser_page, browser_page.base
    UserFactory(username="ada", password=PASSWORD, is_staff=True, is_superuser=True)
    call_command("load_demo", stdout=StringIO())
    demo_run = TunixRun.objects.get(name="demo-gemma3-1b-lora-sft-lr3e-4")

    # Log in.
    page.goto(f"{base}/accounts/login/")
    assert_accessible(page)
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/runs/$"))
    assert_accessible(page)

    # Launch a real Tunix run from the preset the form starts with; watch it finish live.
    page.get_by_text("Launch run").click()
    assert "tunix_lora_sft" in page.get_by_label("Trainer").input_value()
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
    assert_accessible(page)
    in_turn(work_off_the_queue)
    page.locator("#run-live .badge-completed").wait_for(timeout=30_000)
    page.locator("#run-live svg.chart").wait_for()
    assert_accessible(page)
    tunix_run = in_turn(TunixRun.objects.get, trainer="runs.trainers.tunix_lora_sft")
    assert tunix_run.status == "completed", tunix_run.error

    # A demo run's page (log, loss curve), then create a model inline.
    page.goto(f"{base}/runs/{demo_run.pk}/")
    assert_accessible(page)
    page.goto(f"{base}/registry/")
    assert_accessible(page)
    page.get_by_text("New model").click()
    page.get_by_label("Name").fill("E2E Gemma")
    page.get_by_role("button", name="Create model").click()
    page.wait_for_url(re.compile(r"/registry/\d+/$"))
    artifact = in_turn(ModelArtifact.objects.get, name="E2E Gemma")
    assert_accessible(page)

    # Promote the Tunix run: the new row appears without a reload.
    page.locator("#id_run").select_option(str(tunix_run.id))
    page.get_by_label("Tags").fill("e2e")
    page.get_by_role("button", name="Promote", exact=True).click()
    page.locator("#version-rows tr", has_text="v1").wait_for()
    assert page.url.endswith(f"/registry/{artifact.pk}/")

    # Open the version and download it: a valid zip whose SHA256SUMS checks.
    page.get_by_role("link", name="v1", exact=True).click()
    page.wait_for_url(re.compile(r"/registry/versions/\d+/$"))
    assert_accessible(page)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download ZIP").click()
    archive = tmp_path / "v1.zip"
    download_info.value.save_as(archive)
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "v1")
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "v1", capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert (tmp_path / "v1" / "adapter_model.safetensors").is_file()
    version = in_turn(ModelVersion.objects.get, artifact=artifact, version="v1")
    assert (
        hashlib.sha256((tmp_path / "v1" / "SHA256SUMS").read_bytes()).hexdigest() == version.sha256
    )

    # Verify now, in the page.
    page.get_by_role("button", name="Verify now").click()
    page.get_by_text(re.compile(r"All \d+ files intact")).wait_for()

    # Create a tuning job with lora_demo.
    page.goto(f"{base}/tuning/")
    assert_accessible(page)
    page.goto(f"{base}/tuning/new")
    assert_accessible(page)
    page.get_by_label("Name").fill("e2e search")
    page.get_by_label("Trainer").select_option("runs.trainers.lora_demo")
    page.get_by_label("Base config (JSON)").fill('{"steps": 100}')
    page.get_by_label("Search space (JSON)").fill('{"rank": {"type": "grid", "values": [2, 8]}}')
    page.get_by_label("Samples").fill("1")
    page.get_by_role("button", name="Create and start").click()
    page.wait_for_url(re.compile(r"/tuning/\d+/$"))

    # The worker runs it (Ray starts in this process); the page, polling, sees it finish.
    in_turn(work_off_the_queue)
    page.get_by_role("button", name="Promote Best Trial").wait_for(timeout=30_000)
    assert page.locator("tr.best-trial").count() == 1
    assert page.locator("svg.chart").count() == 2  # the metric by trial, each trial's curve
    assert_accessible(page)

    # Promote Best Trial: the version appears in the registry.
    page.get_by_label("Model").select_option(label="E2E Gemma")
    page.get_by_role("button", name="Promote Best Trial").click()
    page.wait_for_url(re.compile(r"/registry/versions/\d+/$"))
    page.goto(f"{base}/registry/{artifact.pk}/")
    page.locator("#version-rows tr", has_text="v2").wait_for()
    assert in_turn(ModelVersion.objects.filter(artifact=artifact).count) == 2
    v2 = in_turn(ModelVersion.objects.get, artifact=artifact, version="v2")

    # Curate on the model page: tags in a popover, an alias pointed, a gate that refuses.
    page.get_by_label("Edit the tags of v1").click()
    page.get_by_label("Tags of v1", exact=True).fill("e2e, reviewed")
    page.get_by_role("button", name="Save tags").click()
    page.locator("#version-rows tr", has_text="v1").get_by_text("e2e, reviewed").wait_for()
    page.locator("#alias-form").get_by_label("Alias").fill("production")
    page.locator("#alias-form").get_by_label("Version").select_option(str(version.pk))
    page.locator("#alias-form").get_by_label("Reason (optional)").fill("first reviewed")
    page.get_by_role("button", name="Move alias").click()
    page.locator("#alias-production").get_by_role("link", name="v1").wait_for()
    page.get_by_label("Edit the gates of production").click()
    page.get_by_label("Requirements", exact=True).fill("eval_loss <= -1")
    page.get_by_role("button", name="Save gates").click()
    page.locator("#alias-production", has_text="eval_loss <= -1").wait_for()
    page.locator("#alias-form").get_by_label("Version").select_option(str(v2.pk))
    page.get_by_role("button", name="Move alias").click()
    refusal = page.locator("#alias-form .refusal")
    refusal.wait_for()
    assert "production cannot point at v2" in refusal.inner_text()
    assert refusal.locator("li").count() == 1
    assert "eval_loss <= -1" in refusal.locator("li").inner_text()
    save_screenshots(page, "-gate-refusal")
    page.reload()
    page.get_by_text("pointed the new alias production at v1: “first reviewed”.").wait_for()
    assert_accessible(page)

    # The registry's promote page, which a completed run's page links to.
    page.goto(f"{base}/runs/{tunix_run.pk}/")
    page.get_by_role("link", name="Promote this run").click()
    page.wait_for_url(re.compile(r"/registry/promote\?run="))
    assert page.get_by_label("Run (completed or failed, newest first)").input_value() == str(
        tunix_run.pk
    )
    assert_accessible(page)

    assert page.console_errors == []
