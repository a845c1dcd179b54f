"""Access tokens shared by every invocation of a connection, refreshed once however many ask.

A token lives in the process (no lookup on the warm path) and in the shared state
(``connector_state`` in DynamoDB), with its expiry. A caller that finds it expired,
missing or refused (a 401 with exactly that token) takes the refresh lease with a
conditional write; whoever wins fetches one new token and writes it back with the
lease released, and everyone else waits for that write instead of fetching their own.
A single-use refresh token (Xero-style rotation) is written back in the same
conditional write as the access token it came with, so it is never lost to a race;
the stored one takes precedence over the credentials' initial refresh token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pshub.connectors.http.state import SharedState


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float | None = None  # epoch seconds; None: valid until the platform refuses it
    refresh_token: str | None = field(default=None, repr=False)
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. Salesforce's instance_url

    def fresh(self, now: float, margin_s: float) -> bool:
        return self.expires_at is None or self.expires_at - margin_s > now


Fetch = Callable[[Token | None], Token]  # the previous token (its refresh token), -> a new one


class TokenUnavailable(RuntimeError):
    """Another invocation held the refresh lease and never wrote a token back."""


class SharedTokens:
    def __init__(
        self,
        state: SharedState,
        key: str,
        fetch: Fetch,
        *,
        refresh_margin_s: float = 60.0,
        lease_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._state = state
        self._key = f"token#{key}"
        self._fetch = fetch
        self._margin = refresh_margin_s
        self._lease_s = lease_s
        self._clock = clock
        self._sleep = sleep
        self._owner = uuid.uuid4().hex
        self._local: Token | None = None
        self._refused: str | None = None
        self.fetches = 0  # tokens this process fetched from the token endpoint

    def get(self) -> Token:
        local = self._local
        if local is not None and local.fresh(self._clock(), self._margin) and local.value != self._refused:
            return local
        deadline = self._clock() + 3 * self._lease_s
        pause = 0.02
        while True:
            now = self._clock()
            item = self._state.get(self._key)
            stored = _token_of(item)
            if stored is not None and stored.fresh(now, self._margin) and stored.value != self._refused:
                self._local = stored
                return stored
            leased = item is not None and float(item.get("lease_until", 0)) > now
            if leased and item is not None and item.get("lease_owner") != self._owner:
                if now > deadline:
                    raise TokenUnavailable(f"{self._key}: a refresh by another invocation did not finish")
                self._sleep(pause)
                pause = min(pause * 2, 0.5)
                continue
            version = int(item["version"]) if item is not None else None
            kept = {
                k: v for k, v in (item or {}).items() if k not in {"version", "lease_until", "lease_owner"}
            }
            lease = {**kept, "lease_until": now + self._lease_s, "lease_owner": self._owner}
            if not self._state.put(self._key, lease, expected_version=version, ttl_s=_ttl(stored)):
                continue  # someone else moved first: look again
            return self._refresh(stored, kept, (version or 0) + 1)

    def _refresh(self, previous: Token | None, kept: dict[str, Any], version: int) -> Token:
        try:
            token = self._fetch(previous)
        except BaseException:
            self._state.put(self._key, kept, expected_version=version, ttl_s=_ttl(previous))  # release
            raise
        self.fetches += 1
        record = {
            "token": token.value,
            "expires_at": token.expires_at if token.expires_at is not None else 0,
            "refresh_token": token.refresh_token
            or (previous.refresh_token if previous is not None else None)
            or "",
            "extra": dict(token.extra),
        }
        written = self._state.put(self._key, record, expected_version=version, ttl_s=_ttl(token))
        if not written and token.refresh_token:
            # Our lease expired and another invocation refreshed meanwhile: both access tokens
            # are valid, but a rotated refresh token of ours would be lost, so say so.
            raise TokenUnavailable(f"{self._key}: lease lost while a rotated refresh token was fetched")
        self._local = token
        return token

    def refused(self, value: str) -> None:
        """The platform answered 401 to ``value``: the next ``get`` refreshes (once for everyone)."""
        self._refused = value
        if self._local is not None and self._local.value == value:
            self._local = None


def _token_of(item: Mapping[str, Any] | None) -> Token | None:
    if not item or not item.get("token"):
        return None
    expires = float(item.get("expires_at") or 0)
    return Token(
        value=str(item["token"]),
        expires_at=expires or None,
        refresh_token=str(item.get("refresh_token") or "") or None,
        extra={str(k): str(v) for k, v in dict(item.get("extra") or {}).items()},
    )


def _ttl(token: Token | None) -> int:
    # Keep an item holding a refresh token for 180 days; an access-only token a day past its expiry.
    if token is not None and token.refresh_token:
        return 180 * 86_400
    return 86_400 * 2
