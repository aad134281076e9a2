"""End-to-end fixtures: Panjereh and two agency portals running as real processes.

The processes are started once per test session (see ``stack.py``) in a
temporary directory with their own database, keys, SMS outbox and free ports.
"""

from __future__ import annotations

import pytest

from tests.e2e.citizen import CitizenBrowser
from tests.e2e.stack import CITIZEN_FOR, Stack, shared_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory, pytestconfig) -> Stack:
    return shared_stack(tmp_path_factory, pytestconfig)


@pytest.fixture
def citizen_browser(stack, request):
    """``citizen_browser(role)``: a fresh browser (no cookies) for the registry citizen reserved for ``role``."""
    opened = []

    def make(role: str) -> CitizenBrowser:
        browser = CitizenBrowser(stack, stack.citizens[CITIZEN_FOR[role]])
        opened.append(browser)
        return browser

    yield make
    for browser in opened:
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, append the processes' recent output to the report."""
    report = yield
    if report.failed and call.when == "call" and "stack" in item.fixturenames:
        from tests.e2e import stack as stack_module

        if stack_module._shared is not None:
            report.sections.append(("Panjereh stack output", stack_module._shared.logs()))
    return report
