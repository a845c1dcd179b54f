"""A connection's declared request budget, enforced across every Lambda invocation.

Why a shared cell in DynamoDB rather than queue-level concurrency: the vendors' limits
are per account and per time window (Stripe 100/s, HubSpot 190 per 10 s, Salesforce
per 24 h), and the calls come from several functions and workflow steps at once;
reserved concurrency bounds how many calls run at a time, not how many are sent per
second. The cell is a generic cell-rate algorithm (GCRA): one number, the
theoretical arrival time; a request reserves ``1/rate`` of send time behind it and
may go once that reservation is within ``burst`` of now. A request that would have to
wait longer than ``max_wait_s`` reserves nothing and raises ``RateLimited`` with the
wait, so the workflow sleeps instead of a Lambda.

A vendor's ``Retry-After`` holds the cell: no invocation sends before it passes (a slot
reserved before the hold waits for its end: it is budget already counted, sent late, never
early), and when the hold ends the budget is the declared burst again (the vendor's own
bucket refilled while nobody sent), never a catch-up of the time held. The daily quota is
a counter per UTC day. Both are shared the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pshub.connectors.http.state import SharedState

Clock = Callable[[], float]  # seconds since the epoch
Sleep = Callable[[float], None]
_DAY_S = 86_400


@dataclass(frozen=True)
class Throttled:
    """Not sent: the budget allows the next request only after ``retry_after_s``."""

    retry_after_s: float
    reason: str  # "rate" | "daily quota"


class RateLimiter:
    def __init__(
        self,
        state: SharedState,
        connection_id: str,
        *,
        rate_per_s: float | None,
        burst: int = 1,
        daily_quota: int | None = None,
        max_wait_s: float = 20.0,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._state = state
        self._key = f"rate#{connection_id}"
        self._quota_key = f"quota#{connection_id}"
        self._cost_us = max(1, round(1_000_000 / rate_per_s)) if rate_per_s else 0
        self._tau_us = self._cost_us * (max(1, burst) - 1)  # how far ahead of now a slot may start
        self._daily_quota = daily_quota
        self._max_wait_us = round(max_wait_s * 1_000_000)
        self._clock = clock
        self._sleep = sleep
        # Slots are reserved in blocks of at most 50 ms of budget (never more than the burst):
        # one shared write per block. Each slot still waits for its own time, and a slot whose
        # time has passed unused is dropped, so a block never lets a process send above the rate.
        self._block = max(1, min(max(1, burst), int((rate_per_s or 0) * 0.05)))
        self._slots: list[int] = []  # reserved slot start times, oldest first
        # Threads of one process share the instance (a connector is built once per process):
        # taking a slot is one step, or two threads would overwrite each other's reservation.
        self._lock = threading.Lock()
        self._held_until = 0.0  # epoch s: this process sends nothing before (a vendor's wait)
        self.waited_s = 0.0  # total time this limiter slept (benchmarks, logs)
        self.reservations = 0  # shared writes made (benchmarks)

    @property
    def declared(self) -> bool:
        return bool(self._cost_us or self._daily_quota)

    def acquire(self) -> Throttled | None:
        """Wait for a slot and take it; ``Throttled`` (nothing taken) if the wait is too long."""
        throttled = self._wait_out_hold()
        if throttled is not None:
            return throttled
        if self._daily_quota is not None:
            throttled = self._count_today()
            if throttled is not None:
                return throttled
        if not self._cost_us:
            return None
        with self._lock:
            now_us = self._now_us()
            while self._slots and self._slots[0] + self._cost_us < now_us:
                self._slots.pop(0)  # its time passed unused: sending on it now could exceed the rate
            if not self._slots:
                block = self._block
                taken = self._state.take(
                    self._key,
                    now_us=now_us,
                    cost_us=self._cost_us * block,
                    cap_us=now_us + self._tau_us + self._max_wait_us,
                    ttl_s=3600,
                )
                self.reservations += 1
                if taken is None:
                    return Throttled(retry_after_s=self._max_wait_us / 1_000_000, reason="rate")
                first, held_us = taken
                self._held_until = max(self._held_until, held_us / 1_000_000)  # another's hold
                self._slots = [first + i * self._cost_us for i in range(block)]
            slot = self._slots.pop(0)
        held_at = self._held_until
        while True:  # a hold that comes while the slot is awaited delays it: never sent early
            start_us = max(slot - self._tau_us, round(held_at * 1_000_000))
            wait_us = start_us - now_us
            if wait_us > self._max_wait_us:
                return Throttled(retry_after_s=wait_us / 1_000_000, reason="platform's")
            if wait_us > 0:
                self.waited_s += wait_us / 1_000_000
                self._sleep(wait_us / 1_000_000)
            if self._held_until == held_at:
                return None
            held_at, now_us = self._held_until, self._now_us()

    def _wait_out_hold(self) -> Throttled | None:
        held = self._held_until - self._clock()
        if held > 0:
            if held * 1_000_000 > self._max_wait_us:
                return Throttled(retry_after_s=held, reason="platform's")
            self.waited_s += held
            self._sleep(held)
        return None

    def hold(self, retry_after_s: float, *, refused: bool = False) -> None:
        """The vendor said wait: this process sends nothing before then, and with a declared rate
        no other invocation does either (the shared cell is held).

        ``refused``: the request that was told to wait was refused (a 429, a 503), so it spent
        none of the vendor's budget: its slot goes back to the cell, if the cell is booked past
        the hold's end (a slot before it is void anyway; the burst after a hold stays the declared
        one)."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + retry_after_s)
        if self._cost_us:
            until_us = self._now_us() + round(retry_after_s * 1_000_000)
            refund_us = self._cost_us if refused else 0
            self._state.hold_until(self._key, until_us=until_us, refund_us=refund_us, ttl_s=3600)

    def _count_today(self) -> Throttled | None:
        now = self._clock()
        day = int(now // _DAY_S)
        assert self._daily_quota is not None
        total = self._state.add(f"{self._quota_key}#{day}", 1, ceiling=self._daily_quota, ttl_s=2 * _DAY_S)
        if total is None:
            return Throttled(retry_after_s=(day + 1) * _DAY_S - now, reason="daily quota")
        return None

    def now(self) -> float:
        """The limiter's clock (epoch s)."""
        return self._clock()

    def _now_us(self) -> int:
        return int(self._clock() * 1_000_000)
