"""Interoperability fixtures: the real provider process of ``tests/e2e/stack.py``, shared per session.

The tests here register their own relying parties (``idp clients add --json``)
and sign in their own citizens of the synthetic registry, so they can share the
stack with ``tests/e2e`` and ``tests/browser`` without touching their state.
"""

from __future__ import annotations

import pytest

from tests.e2e.stack import Stack, shared_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory, pytestconfig) -> Stack:
    return shared_stack(tmp_path_factory, pytestconfig)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, append the provider's recent output to the report."""
    report = yield
    if report.failed and call.when == "call" and "stack" in item.fixturenames:
        from tests.e2e import stack as stack_module

        if stack_module._shared is not None:
            report.sections.append(("Panjereh stack output", stack_module._shared.logs()))
    return report
