"""Real-browser fixtures: Debian's Chromium driven by Playwright, against the e2e process stack.

Chromium comes from the system package manager, never from ``playwright install``
(whose downloads are blocked). When ``/usr/bin/chromium`` is missing the fixture
installs it with ``apt-get`` (as root; a lock file keeps parallel runs from
clashing) and fails with a clear message when that is impossible. Set
``PANJEREH_SKIP_BROWSER=1`` to skip these tests on purpose; nothing else skips them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.stack import ROOT, Stack, shared_stack

CHROMIUM = Path(os.environ.get("PANJEREH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
INSTALL_LOCK = Path(tempfile.gettempdir()) / "panjereh-chromium-install.lock"
INSTALL_TIMEOUT = 1200
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _tail(text: str | None, limit: int = 4000) -> str:
    text = text or ""
    return text[-limit:]


def install_chromium() -> None:
    """``apt-get update && apt-get install -y chromium``, once even when several runs start together."""
    if CHROMIUM.exists():
        return
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing and the tests are not running as root, so they cannot install it. "
                    "Install it with `sudo apt-get install -y chromium`, or set PANJEREH_SKIP_BROWSER=1 to skip "
                    "the browser tests.", pytrace=False)
    if shutil.which("apt-get") is None:
        pytest.fail(f"{CHROMIUM} is missing and there is no apt-get to install it with (not a Debian-based "
                    "system?). Install Chromium and set PANJEREH_CHROMIUM to its path, or set "
                    "PANJEREH_SKIP_BROWSER=1 to skip the browser tests.", pytrace=False)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be installing right now
        try:
            if CHROMIUM.exists():
                return
            for cmd in (["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"],
                        ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "chromium"]):
                try:
                    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
                except subprocess.TimeoutExpired as exc:
                    pytest.fail(f"`{' '.join(cmd)}` did not finish in {INSTALL_TIMEOUT}s while installing "
                                f"Chromium for the browser tests.\n{_tail(exc.stdout)}\n{_tail(exc.stderr)}",
                                pytrace=False)
                if done.returncode != 0:
                    pytest.fail(f"Could not install Chromium for the browser tests: `{' '.join(cmd)}` exited "
                                f"with {done.returncode}.\nstdout:\n{_tail(done.stdout)}\n"
                                f"stderr:\n{_tail(done.stderr)}\n"
                                "Install it by hand (`apt-get install -y chromium`) or set "
                                "PANJEREH_SKIP_BROWSER=1 to skip the browser tests.", pytrace=False)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if not CHROMIUM.exists():
        pytest.fail(f"`apt-get install -y chromium` succeeded but {CHROMIUM} still does not exist.", pytrace=False)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if os.environ.get("PANJEREH_SKIP_BROWSER") == "1":
        pytest.skip("PANJEREH_SKIP_BROWSER=1: browser tests skipped on request")
    install_chromium()
    return CHROMIUM


@pytest.fixture(scope="session")
def stack(chromium_path, tmp_path_factory, pytestconfig) -> Stack:
    return shared_stack(tmp_path_factory, pytestconfig)


@pytest.fixture(scope="session")
def chromium(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(chromium_path), headless=True,
                                                 args=CHROMIUM_ARGS, timeout=30_000)
        except Exception as exc:  # noqa: BLE001 - explain, then fail
            pytest.fail(f"Playwright could not start {chromium_path}: {exc}", pytrace=False)
        try:
            yield browser
        finally:
            browser.close()


class PageWatch:
    """Everything the page did that a test may want to assert on: requests, console errors, screenshots."""

    def __init__(self, page, shots_dir: Path):
        self.page = page
        self.shots_dir = shots_dir
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.failed: list[str] = []
        self.shots: list[Path] = []
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(
            f"{msg.text} ({msg.location.get('url', '')})"))
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        page.on("requestfailed", lambda req: self.failed.append(f"{req.url}: {req.failure}"))

    def shot(self, step: str) -> Path:
        path = self.shots_dir / f"{len(self.shots) + 1:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests
                if urlsplit(url).scheme not in ("data", "blob", "about")
                and urlsplit(url).hostname not in LOCAL_HOSTS]


@pytest.fixture
def phone(chromium):
    """``phone(lang, folder=lang)``: a fresh phone-sized browser context and page, watched, whose
    screenshots go to ``test-artifacts/screenshots/<folder>/`` (emptied first)."""
    contexts = []

    def open_page(lang: str, folder: str | None = None) -> PageWatch:
        context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=1,
                                       locale="fa-IR" if lang == "fa" else "en-US")
        context.set_default_timeout(15_000)
        contexts.append(context)
        shots_dir = SCREENSHOTS / (folder or lang)
        shots_dir.mkdir(parents=True, exist_ok=True)
        for old in shots_dir.glob("*.png"):
            old.unlink()
        return PageWatch(context.new_page(), shots_dir)

    yield open_page
    for context in contexts:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, append the processes' recent output to the report."""
    report = yield
    if report.failed and call.when == "call" and "stack" in item.fixturenames:
        from tests.e2e import stack as stack_module

        if stack_module._shared is not None:
            report.sections.append(("Panjereh stack output", stack_module._shared.logs()))
    return report
