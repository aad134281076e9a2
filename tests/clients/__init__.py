"""Tests of the demo agency portals (``clients/``).

While ``tests/`` has no ``__init__.py``, pytest's default (prepend) import mode
imports this folder as the top-level package ``clients``, which would shadow
the real ``clients`` package at the repository root. In that case, also look
for submodules in the real package, so ``import clients.portal`` keeps working.
Once ``tests/__init__.py`` exists this package is ``tests.clients`` and the
block below does nothing.
"""

from pathlib import Path as _Path

if __name__ == "clients":  # pragma: no cover - depends on the test layout
    _real = _Path(__file__).resolve().parents[2] / "clients"
    if _real.is_dir() and str(_real) not in __path__:
        __path__.append(str(_real))
