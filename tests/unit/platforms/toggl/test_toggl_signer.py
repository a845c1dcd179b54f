"""The local signer produces the headers Toggl sends, and the adapter accepts them."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pshub.connections import Connection
from pshub.errors import SignatureInvalid
from pshub.platforms.toggl.inbound import TogglAdapter
from pshub_local.platforms.toggl.signer import SIGNER
from pshub_local.vendors import signer_for
from tests.helpers import inbound, sample

SECRET = "localdemo-toggl-unit-only"  # test-only
connection = Connection(id="toggl-acme", platform="toggl", role="time")


def test_the_signer_is_found_for_the_platform_and_signs_no_time() -> None:
    assert signer_for("toggl") is SIGNER
    assert SIGNER.max_age_s is None


def test_signed_headers_are_toggls_and_verify() -> None:
    body = sample("toggl/time_entry.created.json")
    headers = SIGNER.headers("https://hooks.example.com/webhooks/toggl-acme", body, SECRET, 1_796_031_013.0)
    # https://developers.track.toggl.com/docs/webhooks_start/validating_received_events
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers == {"Content-Type": "application/json", "X-Webhook-Signature-256": expected}
    TogglAdapter().verify(inbound(body, headers), connection, SECRET, 0.0)


def test_the_tampered_copy_is_refused() -> None:
    from pshub_local.platforms.signing import SignedRequest

    body = sample("toggl/edge/ping.json")
    url = "https://hooks.example.com/webhooks/toggl-acme"
    request = SignedRequest("toggl-acme", "toggl", "POST", url, SIGNER.headers(url, body, SECRET, 0.0), body)
    tampered = SIGNER.tampered(request)
    with pytest.raises(SignatureInvalid):
        TogglAdapter().verify(inbound(tampered.body, dict(tampered.headers)), connection, SECRET, 0.0)
