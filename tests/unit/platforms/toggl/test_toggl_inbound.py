"""Toggl Track webhooks: signatures with the vectors of Toggl's documentation, the validation
handshake, and time entries mapped to the canonical TimeEntry events."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pshub.canonical.envelope import SourceVersion
from pshub.canonical.model import TimeEntry
from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline.ingress import WebhookIngress
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms import adapter_for, platform
from pshub.platforms.base import ACCEPTED
from pshub.platforms.toggl import inbound
from pshub.platforms.toggl.inbound import TogglAdapter
from tests.helpers import inbound as request_of
from tests.helpers import sample

adapter = TogglAdapter()
SECRET = "localdemo-toggl-unit-only"  # test-only
OPTIONS = {
    "timezone": "Europe/Berlin",
    "role_tags": "Senior Consultant,Consultant",
    "users": "9100001=Alex.Rivera@Acme-Consulting.example.com, 9100002=sam.okafor@acme-consulting.example.com",
    "workspace_id": "4141592",
}
connection = Connection(id="toggl-acme", platform="toggl", role="time", options=OPTIONS)
URL = "https://hooks.example.com/webhooks/toggl-acme"
# The samples' description, as Toggl sends it: an en dash, an umlaut and an emoji.
NOTES = "Workshop: Datenmigration \u2013 \u00dcberblick \u2615"

# Toggl's documentation, "Validating Received Events", code examples: the subscription secret, the
# PING body as sent, and the X-Webhook-Signature-256 Toggl sent for it. Two revisions of the page:
# https://developers.track.toggl.com/docs/webhooks_start/validating_received_events (first) and
# https://engineering.toggl.space/docs/webhooks_start/validating_received_events (with
# timestamp and url_callback). Scheme: sha256=<hex HMAC-SHA256(secret, full raw body)>.
DOCS_SECRET = "PGuRrhCFajIyEvFlreKL"
DOCS_VECTORS = [
    (
        b'{"event_id":0,"created_at":"2022-06-25T03:58:10.207820267Z","creator_id":6,"metadata":'
        b'{"request_type":"POST","event_user_id":6},"payload":"ping","subscription_id":6}',
        "sha256=55343383e52a9cd2f56bd4e9fb5b6ce6982fb45955f26ea816cf7495d98c5fd2",
    ),
    (
        b'{"event_id":0,"created_at":"2022-06-25T03:58:10.207820267Z","creator_id":6,"metadata":'
        b'{"request_type":"POST","event_user_id":6},"payload":"ping","subscription_id":6,'
        b'"timestamp":"2022-06-25T03:58:10.207820267Z","url_callback":"https://callback-url.com"}',
        "sha256=bf829606cda0ca6923defb5ca70a43135adc7e8887486a201a19cb50ca6006b1",
    ),
]


def documented_signature(body: bytes, secret: str = SECRET) -> str:
    # The documented scheme, computed here independently of the adapter.
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(body: bytes, secret: str = SECRET) -> Any:
    return request_of(body, {"X-Webhook-Signature-256": documented_signature(body, secret)}, url=URL)


def delivery(body: bytes, options: dict[str, str] | None = None) -> RawDelivery:
    return RawDelivery(
        delivery_id="d-1", correlation_id="corr-7", connection="toggl-acme", platform="toggl",
        received_at="2026-12-02T09:30:13.100+00:00", method="POST", url=URL, headers={},
        source_ip="192.0.2.1", body_text=body.decode(), role="time",
        options=dict(OPTIONS) if options is None else options,
    )  # fmt: skip


def mapped(body: bytes, options: dict[str, str] | None = None) -> list[Any]:
    return [
        c for e in adapter.split(body, "toggl-acme") for c in adapter.to_canonical(e, delivery(body, options))
    ]


def with_entry(body: bytes, **changes: Any) -> bytes:
    document = json.loads(body)
    document["payload"].update(changes)
    return json.dumps(document, ensure_ascii=False).encode()


# --- the manifest ---------------------------------------------------------------------------------


def test_the_manifest_declares_a_webhook_platform_for_time() -> None:
    manifest = platform("toggl")
    assert (manifest.title, manifest.roles, manifest.inbound) == (
        "Toggl Track",
        frozenset({"time"}),
        "webhook",
    )
    assert isinstance(adapter_for("toggl"), TogglAdapter)
    assert connection.receives_webhooks


# --- signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "header"), DOCS_VECTORS)
def test_the_documented_vectors_are_reproduced_and_accepted(body: bytes, header: str) -> None:
    assert documented_signature(body, DOCS_SECRET) == header
    adapter.verify(request_of(body, {"X-Webhook-Signature-256": header}), connection, DOCS_SECRET, 0.0)


def test_a_sample_signed_as_documented_is_accepted_whenever_it_arrives() -> None:
    # Toggl signs no time: a redelivery days later verifies as the first attempt did
    body = sample("toggl/time_entry.created.json")
    for now in (0.0, 1_796_031_013.0, 1_796_031_013.0 + 7 * 86400):
        adapter.verify(signed(body), connection, SECRET, now)


def test_tampered_body_wrong_secret_and_reserialised_body_are_refused() -> None:
    body = sample("toggl/time_entry.created.json")
    header = {"X-Webhook-Signature-256": documented_signature(body)}
    tampered = body.replace(b'"duration": 4500', b'"duration": 45000')
    for request, secret in [
        (request_of(tampered, header), SECRET),
        (request_of(body, header), "another-subscription-secret"),
        (request_of(json.dumps(json.loads(body)).encode(), header), SECRET),
    ]:
        with pytest.raises(SignatureInvalid, match="does not match"):
            adapter.verify(request, connection, secret, 0.0)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"X-Webhook-Signature-256": ""}, "missing"),
        ({"X-Hub-Signature-256": "sha256=00"}, "missing"),
        ({"X-Webhook-Signature-256": "sha1=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"}, "sha256=<hex>"),
        ({"X-Webhook-Signature-256": "SHA256=00"}, "sha256=<hex>"),
        ({"X-Webhook-Signature-256": "café"}, "sha256=<hex>"),
    ],
)
def test_missing_header_or_wrong_prefix_is_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureInvalid, match=reason):
        adapter.verify(request_of(b"{}", headers), connection, SECRET, 0.0)


def test_the_bare_hex_or_a_signature_of_another_form_is_refused() -> None:
    body = sample("toggl/edge/ping.json")
    digest = documented_signature(body).removeprefix("sha256=")
    for value in (digest, f"sha256={digest.upper()}", f"sha256={digest} ", f"sha256=é{digest[1:]}"):
        with pytest.raises(SignatureInvalid):
            adapter.verify(request_of(body, {"X-Webhook-Signature-256": value}), connection, SECRET, 0.0)


def test_the_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(inbound.hmac, "compare_digest", recording)
    body = sample("toggl/edge/ping.json")
    adapter.verify(signed(body), connection, SECRET, 0.0)
    assert len(calls) == 1 and all(isinstance(side, bytes) for side in calls[0])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_change_to_the_body_fails_verification(data: st.DataObject) -> None:
    body = sample("toggl/time_entry.updated.json")
    header = {"X-Webhook-Signature-256": documented_signature(body)}
    position = data.draw(st.integers(0, len(body)), label="position")
    kind = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="kind")
    byte = data.draw(st.integers(0, 255), label="byte")
    if kind == "replace" and position < len(body) and body[position] != byte:
        mutated = body[:position] + bytes([byte]) + body[position + 1 :]
    elif kind == "delete" and position < len(body):
        mutated = body[:position] + body[position + 1 :]
    else:
        mutated = body[:position] + bytes([byte]) + body[position:]
    with pytest.raises(SignatureInvalid):
        adapter.verify(request_of(mutated, header), connection, SECRET, 0.0)


# --- the validation handshake ---------------------------------------------------------------------


def test_the_validation_ping_is_answered_with_its_code() -> None:
    # Given the PING of a subscription not yet validated, signed with its secret
    body = sample("toggl/edge/ping.json")
    request = signed(body)
    adapter.verify(request, connection, SECRET, 0.0)
    adapter.parse(body)
    # Then the response echoes the code as Toggl parses it: {"validation_code": "<code>"}
    response = adapter.acknowledge(request)
    assert response.status == 200
    assert json.loads(response.body) == {"validation_code": "5f0c8e2a91d4b7c36e1a0f9d2b84c7e5"}
    assert response.headers["content-type"] == "application/json"
    # ... and, stored like any delivery, it carries no event
    assert adapter.split(body, "toggl-acme") == []


def test_a_ping_of_a_validated_subscription_and_an_entry_are_simply_accepted() -> None:
    documented_ping = DOCS_VECTORS[1][0]  # no validation_code: the subscription is validated
    assert adapter.acknowledge(request_of(documented_ping)) == ACCEPTED
    assert adapter.split(documented_ping, "toggl-acme") == []
    entry = sample("toggl/time_entry.created.json")
    assert adapter.acknowledge(signed(entry)) == ACCEPTED
    # A time entry whose description mentions the field is not a ping
    mention = with_entry(entry, description='"validation_code": "x"')
    assert adapter.acknowledge(request_of(mention)) == ACCEPTED


def test_a_validation_code_that_is_no_identifier_is_not_echoed() -> None:
    ping = json.loads(sample("toggl/edge/ping.json"))
    for code in (12345, "", "a\nb", "x" * 256, None):
        body = json.dumps({**ping, "validation_code": code}).encode()
        assert adapter.acknowledge(request_of(body)) == ACCEPTED


class _Queue:
    def __init__(self) -> None:
        self.stored: list[tuple[RawDelivery, bytes]] = []

    def enqueue(self, stored: RawDelivery, body: bytes) -> str:
        self.stored.append((stored, body))
        return "msg-1"


class _Parking:
    def park(self, *args: object) -> str:
        raise AssertionError("nothing is parked")


def test_the_ingress_stores_the_ping_and_answers_toggl() -> None:
    # Given the ingress with a Toggl connection
    queue = _Queue()
    ingress = WebhookIngress(
        connections={"toggl-acme": connection}, secrets=lambda name: SECRET, queue=queue,  # type: ignore[arg-type]
        parking=_Parking(), max_body_bytes=1 << 20, clock=lambda: 0.0,  # type: ignore[arg-type]
    )  # fmt: skip
    body = sample("toggl/edge/ping.json")
    # When Toggl posts its signed validation ping
    response = ingress.receive("toggl-acme", signed(body))
    # Then it is stored byte for byte and the code is echoed
    assert (response.status, json.loads(response.body)) == (
        200,
        {"validation_code": "5f0c8e2a91d4b7c36e1a0f9d2b84c7e5"},
    )
    [(stored, stored_body)] = queue.stored
    assert stored_body == body and stored.platform == "toggl" and stored.options == OPTIONS
    # ... and an unsigned one is refused, not stored
    assert ingress.receive("toggl-acme", request_of(body)).status == 401
    assert len(queue.stored) == 1


# --- the delivery's shape -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"event_id": 1, "payload": {}}', "no 'metadata'"),
        (b'{"event_id": 1, "metadata": {}}', "no 'payload'"),
        (b'{"metadata": {}, "payload": "ping"}', "no 'event_id'"),
    ],
)
def test_unparseable(body: bytes, reason: str) -> None:
    with pytest.raises(UnparseableBody, match=reason):
        adapter.parse(body)
    with pytest.raises(UnparseableBody, match=reason):
        adapter.split(body, "toggl-acme")


def test_every_sample_parses() -> None:
    for name in (
        "edge/ping",
        "time_entry.created",
        "time_entry.updated",
        "edge/time_entry.deleted",
        "edge/time_entry.running",
    ):
        adapter.parse(sample(f"toggl/{name}.json"))


# --- time entries ---------------------------------------------------------------------------------


def test_a_created_entry_is_a_snapshot_with_exact_attributes() -> None:
    body = sample("toggl/time_entry.created.json")
    [event] = adapter.split(body, "toggl-acme")
    assert (event.event_id, event.event_type, event.native_id) == (
        "8924117305518342",
        "time_entry.created",
        "3712004512",
    )
    [changed] = adapter.to_canonical(event, delivery(body))
    assert changed.event_type == "TimeEntryChanged"
    assert changed.source_platform == "toggl" and changed.source_native_id == "3712004512"
    assert changed.payload == {
        "native_id": "3712004512",
        "change": "snapshot",
        "attributes": {
            "project_id": "203847561",
            "worker_id": "alex.rivera@acme-consulting.example.com",
            "work_date": "2026-12-02",
            "hours": "1.25",  # 4500 s
            "billable": True,
            "status": "submitted",
            "role": "Senior Consultant",
            "notes": NOTES,
        },
    }
    # occurred_at and the version are the entry's `at`: date -u -d @1796031012 = 2026-12-02 09:30:12
    assert changed.occurred_at == datetime(2026, 12, 2, 9, 30, 12, tzinfo=UTC)
    assert changed.source_version == SourceVersion(
        scheme="toggl.at", major=1_796_203_812_000, minor=0, tiebreak="00008924117305518342"
    )


def test_an_updated_entry_tagged_approved_is_approved() -> None:
    [changed] = mapped(sample("toggl/time_entry.updated.json"))
    assert changed.event_type == "TimeEntryChanged"
    assert changed.payload["attributes"] == {
        "project_id": "203847561",
        "worker_id": "alex.rivera@acme-consulting.example.com",
        "work_date": "2026-12-02",
        "hours": "1.50",  # 5400 s
        "billable": True,
        "status": "approved",
        "role": "Senior Consultant",
        "notes": NOTES,
    }
    assert "approved_at" not in changed.payload["attributes"]  # Toggl records no approval time
    assert changed.source_version == SourceVersion(
        scheme="toggl.at", major=1_796_292_005_000, minor=0, tiebreak="00008931552078130927"
    )


def test_a_deleted_entry_is_a_tombstone_at_its_deletion() -> None:
    [deleted] = mapped(sample("toggl/edge/time_entry.deleted.json"))
    assert deleted.event_type == "TimeEntryDeleted"
    assert deleted.payload == {"native_id": "3712004512"}
    assert deleted.occurred_at == datetime(2026, 12, 3, 11, 42, 31, tzinfo=UTC)
    assert deleted.source_version == SourceVersion(
        scheme="toggl.at", major=1_796_298_151_000, minor=1, tiebreak="00008931889930415566"
    )


def test_an_entry_with_server_deleted_at_is_deleted_whatever_the_action() -> None:
    body = with_entry(sample("toggl/time_entry.updated.json"), server_deleted_at="2026-12-03T10:00:09+00:00")
    [deleted] = mapped(body)
    assert deleted.event_type == "TimeEntryDeleted"
    assert deleted.occurred_at == datetime(2026, 12, 3, 10, 0, 9, tzinfo=UTC)  # later than its `at`


def test_a_deletion_with_only_the_entry_id_is_dated_by_the_event() -> None:
    document = json.loads(sample("toggl/edge/time_entry.deleted.json"))
    document["payload"] = {}
    [deleted] = mapped(json.dumps(document).encode())
    assert (deleted.event_type, deleted.source_native_id) == ("TimeEntryDeleted", "3712004512")
    assert deleted.occurred_at == datetime(2026, 12, 3, 11, 42, 31, 907000, tzinfo=UTC)


def test_a_deletion_orders_after_a_change_of_the_same_second() -> None:
    updated = with_entry(sample("toggl/time_entry.updated.json"), at="2026-12-03T11:42:31+00:00")
    [change] = mapped(updated)
    [deletion] = mapped(sample("toggl/edge/time_entry.deleted.json"))
    assert change.source_version.major == deletion.source_version.major
    assert change.source_version.key() < deletion.source_version.key()


def test_a_redelivery_has_the_same_event_and_version() -> None:
    body = sample("toggl/time_entry.created.json")
    document = json.loads(body)
    document["timestamp"] = "2026-12-02T11:30:13.027815342Z"  # a later attempt
    [first] = mapped(body)
    [again] = mapped(json.dumps(document, ensure_ascii=False).encode())
    assert (first.event_id, first.source_version) == (again.event_id, again.source_version)


def test_padding_keeps_the_tiebreak_in_numeric_order() -> None:
    document = json.loads(sample("toggl/time_entry.created.json"))
    versions = []
    for event_id in (9, 10):
        document["event_id"] = event_id
        [changed] = mapped(json.dumps(document).encode())
        versions.append(changed.source_version)
    assert versions[0].key() < versions[1].key()


def test_a_running_entry_is_not_yet_time() -> None:
    body = sample("toggl/edge/time_entry.running.json")
    [event] = adapter.split(body, "toggl-acme")
    assert event.problem is None
    assert adapter.to_canonical(event, delivery(body)) == []


@pytest.mark.parametrize(
    ("start", "zone", "work_date"),
    [
        ("2026-12-02T23:30:00Z", None, "2026-12-02"),  # default UTC
        ("2026-12-02T23:30:00Z", "Europe/Berlin", "2026-12-03"),  # 00:30 CET
        ("2026-12-03T06:30:00Z", "America/Los_Angeles", "2026-12-02"),  # 22:30 PST
        ("2026-06-30T22:30:00+00:00", "Europe/Berlin", "2026-07-01"),  # 00:30 CEST
    ],
)
def test_the_work_date_is_the_start_in_the_connections_time_zone(
    start: str, zone: str | None, work_date: str
) -> None:
    options = {k: v for k, v in OPTIONS.items() if k != "timezone"} | ({"timezone": zone} if zone else {})
    [changed] = mapped(with_entry(sample("toggl/time_entry.created.json"), start=start), options)
    assert changed.payload["attributes"]["work_date"] == work_date


def test_without_options_the_entry_keeps_toggls_ids() -> None:
    [changed] = mapped(sample("toggl/time_entry.updated.json"), {})
    attributes = changed.payload["attributes"]
    assert attributes["worker_id"] == "9100001"  # no e-mail in the webhook, no users option
    assert attributes["status"] == "approved"  # the default approved_tag
    assert "role" not in attributes  # no role_tags
    assert attributes["work_date"] == "2026-12-02"


def test_a_project_named_with_a_code_is_booked_to_the_code() -> None:
    body = sample("toggl/time_entry.created.json")
    for name, expected in [
        ("PRJ-ACME-0001 Acme ERP rollout", "PRJ-ACME-0001"),
        ("PRJ-ACME-0001", "PRJ-ACME-0001"),
        ("Internal admin", "203847561"),
        ("prj-acme-0001 lower case", "203847561"),
        ("PRJ-ACME-0001: colon", "203847561"),
    ]:
        [changed] = mapped(with_entry(body, project_name=name))
        assert changed.payload["attributes"]["project_id"] == expected, name
    strict = {**OPTIONS, "project_code_pattern": r"^PRJ-[A-Z0-9]{2,8}-[0-9]{4}$"}
    [changed] = mapped(with_entry(body, project_name="ACME-7 Retainer"), strict)
    assert changed.payload["attributes"]["project_id"] == "203847561"


def test_tags_decide_role_and_approval_as_configured() -> None:
    body = sample("toggl/time_entry.created.json")
    [plain] = mapped(with_entry(body, tags=["travel", "consultant"]))
    assert plain.payload["attributes"]["role"] == "Consultant"  # the configured spelling
    [none] = mapped(with_entry(body, tags=None, tag_ids=None))
    assert "role" not in none.payload["attributes"]
    custom = {**OPTIONS, "approved_tag": "Freigegeben"}
    [approved] = mapped(with_entry(body, tags=["freigegeben"]), custom)
    assert approved.payload["attributes"]["status"] == "approved"
    [not_approved] = mapped(with_entry(body, tags=["approved"]), {**OPTIONS, "approved_tag": ""})
    assert not_approved.payload["attributes"]["status"] == "submitted"


def test_two_role_tags_are_refused_not_guessed() -> None:
    body = with_entry(sample("toggl/time_entry.created.json"), tags=["Consultant", "Senior Consultant"])
    [event] = adapter.split(body, "toggl-acme")
    with pytest.raises(Unmappable, match="2 role tags"):
        adapter.to_canonical(event, delivery(body))


def test_the_attributes_are_the_canonical_models_own_form() -> None:
    for name in ("time_entry.created", "time_entry.updated"):
        [changed] = mapped(sample(f"toggl/{name}.json"))
        attributes = changed.payload["attributes"]
        entry = TimeEntry.model_validate({"id": "te-1", **attributes})
        assert entry.model_dump(mode="json", include=set(attributes)) == attributes
        assert entry.hours == Decimal(attributes["hours"])


@settings(max_examples=300)
@given(seconds=st.integers(min_value=18, max_value=24 * 3600))
def test_hours_are_seconds_over_3600_rounded_half_up_to_the_hundredth(seconds: int) -> None:
    body = with_entry(sample("toggl/time_entry.created.json"), duration=seconds)
    [changed] = mapped(body)
    # In whole hundredths of an hour, half-up: floor((seconds / 36) + 1/2), in integers.
    hundredths = (2 * seconds + 36) // 72
    assert changed.payload["attributes"]["hours"] == f"{hundredths // 100}.{hundredths % 100:02d}"


@pytest.mark.parametrize(
    ("duration", "reason"),
    [(17, "rounds to 0.00 h"), (0, "rounds to 0.00 h"), (24 * 3600 + 18, "more than 24 h")],
)
def test_hours_no_time_entry_can_hold_are_refused(duration: int, reason: str) -> None:
    body = with_entry(sample("toggl/time_entry.created.json"), duration=duration)
    [event] = adapter.split(body, "toggl-acme")
    with pytest.raises(Unmappable, match=reason):
        adapter.to_canonical(event, delivery(body))


def test_an_entry_of_another_workspace_is_refused() -> None:
    body = sample("toggl/time_entry.created.json")
    [event] = adapter.split(body, "toggl-acme")
    with pytest.raises(Unmappable, match="not of workspace 999"):
        adapter.to_canonical(event, delivery(body, {**OPTIONS, "workspace_id": "999"}))


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "option timezone"),
        ({"project_code_pattern": "(["}, "option project_code_pattern"),
        ({"users": "9100001:alex.rivera@acme-consulting.example.com"}, "option users, entry 1"),
    ],
)
def test_a_malformed_option_is_named_without_its_value(options: dict[str, str], reason: str) -> None:
    body = sample("toggl/time_entry.created.json")
    [event] = adapter.split(body, "toggl-acme")
    with pytest.raises(Unmappable, match=reason) as refused:
        adapter.to_canonical(event, delivery(body, options))
    assert "alex.rivera" not in refused.value.message and "Mars" not in refused.value.message


# --- malformed entries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"duration": "4500"}, "payload duration is a string, expected an integer"),
        ({"duration": 4500.5}, "payload duration is a number with a fraction"),
        ({"start": "2026-12-02T08:15:00"}, "payload start has no UTC offset"),
        ({"start": "yesterday"}, "payload start is not an ISO 8601"),
        ({"at": None}, "payload at is null"),
        ({"billable": "yes"}, "payload billable is a string, expected a boolean"),
        ({"tags": "Consultant"}, "payload tags is a string, expected an array"),
        ({"tags": ["ok", 7]}, r"payload tags\[1\] is an integer"),
        ({"user_id": None}, "payload user_id is null"),
        ({"id": True}, "payload.id is a boolean"),
        ({"description": {"text": "Workshop"}}, "payload description is an object"),
    ],
)
def test_a_malformed_entry_is_parked_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    body = with_entry(sample("toggl/time_entry.created.json"), **changes)
    [event] = adapter.split(body, "toggl-acme")
    assert event.problem is not None and event.event_id == "event_id:8924117305518342"
    assert re.search(reason, event.problem), event.problem
    assert "Workshop" not in event.problem  # values never appear, only fields
    with pytest.raises(Unmappable):
        adapter.to_canonical(event, delivery(body))


def test_an_event_without_a_usable_id_or_metadata_is_malformed() -> None:
    document = json.loads(sample("toggl/time_entry.created.json"))
    for changes, label, reason in [
        ({"event_id": "8924117305518342"}, "event", "event_id is a string"),
        ({"event_id": -1}, "event_id:-1", "event_id is out of range"),
        ({"metadata": []}, "event_id:8924117305518342", "metadata is an array"),
        ({"payload": "pong"}, "event_id:8924117305518342", "payload is a string, expected an object"),
    ]:
        [event] = adapter.split(json.dumps({**document, **changes}).encode(), "toggl-acme")
        assert event.event_id == label and event.problem is not None and reason in event.problem, changes


def test_events_of_other_records_are_refused_by_name() -> None:
    document = json.loads(sample("toggl/time_entry.created.json"))
    document["metadata"]["model"] = "project"
    document["payload"] = {"id": 203847561, "name": "PRJ-ACME-0001 Acme ERP rollout"}
    body = json.dumps(document).encode()
    [event] = adapter.split(body, "toggl-acme")
    with pytest.raises(Unmappable, match=r"no mapping for Toggl 'project\.created' events"):
        adapter.to_canonical(event, delivery(body))
