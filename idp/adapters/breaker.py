"""A circuit breaker for the calls an adapter makes to a remote service.

Closed: calls pass; ``threshold`` consecutive failures open it. Open: calls
are refused for ``cooldown`` seconds, so a dead service costs nothing. Half-open:
after the cool-down one trial call passes; its success closes the breaker, its
failure opens it again for another cool-down. Thread-safe; one per adapter.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(self, threshold: int = 5, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be at least 1 and cooldown positive")
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open, only the first caller gets True."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.threshold:
                self._opened_at = self.clock()  # (re)open for a full cool-down
            self._trial_running = False

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self.clock() - self._opened_at < self.cooldown:
            return OPEN
        return HALF_OPEN
