"""A token bucket: the shape of most SaaS API limits (a sustained rate plus a burst)."""

from __future__ import annotations

from collections.abc import Callable


class TokenBucket:
    """Holds up to ``capacity`` tokens, refilled at ``rate_per_s``; a call takes one.

    Not thread-safe by itself: the sandbox calls it under its own lock.
    """

    def __init__(self, rate_per_s: float, capacity: int, clock: Callable[[], float]) -> None:
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self._clock = clock
        self._tokens = float(capacity)
        self._at = clock()

    def take(self) -> float | None:
        """Take a token; return None on success, else the seconds until one is available."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / self.rate_per_s
