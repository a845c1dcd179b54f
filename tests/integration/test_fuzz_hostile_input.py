"""Property: every authentic delivery is accepted onto the raw queue or parked with its reason.

Hypothesis mutates the vendors' own sample deliveries the way real and hostile senders
do (field types, sizes, depths, encodings, duplicate keys, truncation, stray headers and
query parameters), signs each exactly as its vendor would, and sends it through the real
ingress and the real normaliser on moto. Whatever the mutation:

- the ingress answers 200, 400, 401 or 413, never 500 (a 500 is for AWS outages only);
- 200: exactly one raw-queue message; 400: nothing queued, the body parked byte for byte;
  401 or 413: nothing stored at all;
- the normaliser never raises on an accepted delivery (nothing is retried for its input),
  and every event the adapter finds in it is published, a duplicate, not propagated, or
  parked with a code and a reason; a delivery parked whole keeps its body byte for byte;
- every published amount is valid money (ISO 4217, exact in the currency's minor units).

``PSHUB_FUZZ_EXAMPLES`` sets the examples per test (default 120; the figure in the README
comes from a run with many more). ``FUZZ_STATS`` records how many cases ran, by outcome.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pshub.canonical.model import Money
from pshub.connections import signing_secret_name
from pshub.pipeline.http import InboundRequest
from pshub.pipeline.ingress import WebhookIngress
from pshub.pipeline.normaliser import DeliveryNormaliser
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms import adapter_for
from pshub.store.archive import RawArchive
from pshub.store.bodies import DeliveryBodies
from pshub.store.event_bus import EventBusPublisher
from pshub.store.event_claims import PlatformEventClaims
from pshub.store.raw_queue import ParkingQueue, RawDeliveryQueue
from pshub_infra.topology import CLAIM_CHECK_THRESHOLD_BYTES, MAX_WEBHOOK_BODY_BYTES
from pshub_local import vendors
from tests.helpers import connections, sample
from tests.integration.aws import REGION, Stores, aws_stores

EXAMPLES = int(os.environ.get("PSHUB_FUZZ_EXAMPLES", "120"))
FUZZ_STATS: Counter[str] = Counter()
SECRETS = {
    "stripe-acme": "whsec_fuzz_only",
    "hubspot-acme": "fuzz-only-client-secret",
    "salesforce-acme": "fuzz-token",
    "netsuite-acme": "whsec_ZnV6ei1vbmx5LXJlbGF5LXNlY3JldC0wMQ==",
    "oracle-fusion-acme": "whsec_ZnV6ei1vbmx5LXJlbGF5LXNlY3JldC0wMg==",
    "workday-acme": "whsec_ZnV6ei1vbmx5LXJlbGF5LXNlY3JldC0wMw==",
}
BASE_URL = "https://hooks.example.com"
SF_FIELD_NS = "urn:sobject.enterprise.soap.sforce.com"

# --- generators ------------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["", "None", "null", "NaN", "1e400", "-0", "0x10", "\u202e", "\ufeff", "\uffff", "\x00", "\uff35\uff33\uff24",
                     "2026-02-30T00:00:00Z", "2026-11-20T10:00:00", "usd", "zzz", "XAU", "GB82WEST12345698765432"]),
)  # fmt: skip
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**53, 2**63, 2**64 + 1, 10**29, 12.5, -0.0, 1e308]),
)
json_leaves = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
# New ids outside Hypothesis's choices: its draws repeat by design (shrinking), a redelivery
# would be absorbed before mapping, and the id's value never matters to the property.
_FRESH = itertools.count(int(time.time() * 1000))
# Number spellings json.dumps never writes but a sender may.
RAW_NUMBERS = [
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "1" * 5000,
    "12.50",
    "1E2",
    "-0",
    "0.0000001",
]


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return document


def _delete(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return document
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return document


@st.composite
def mutated_json(draw: st.DrawFn, sample_path: str) -> bytes:
    document = json.loads(sample(sample_path))
    if draw(st.integers(0, 9)):  # mostly a new event, so that it is mapped, not absorbed as a redelivery
        fresh = next(_FRESH)
        if isinstance(document, dict):
            document["id"] = f"evt_{fresh:032x}"
        else:
            for offset, item in enumerate(document):
                item["eventId"] = fresh % 10**12 + offset
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "duplicate_item"]))
        if action == "replace":
            document = _set(document, path, draw(json_values))
        elif action == "delete":
            document = _delete(document, path)
        elif path and isinstance(document, list | dict):
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, list):
                parent.append(json.loads(json.dumps(parent[path[-1]])))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 2))):
        text = draw(_textual_mutation(text))
    body = text.encode(
        draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "utf-32"])), "surrogatepass"
    )
    return draw(_byte_mutation(body))


@st.composite
def _textual_mutation(draw: st.DrawFn, text: str) -> str:
    kind = draw(st.sampled_from(["duplicate_key", "raw_number", "deep", "padding", "none"]))
    if kind == "duplicate_key" and "{" in text:
        key = draw(
            st.sampled_from(["id", "type", "created", "eventId", "objectId", "amount_due", "currency", "x"])
        )
        at = draw(st.sampled_from([i for i, char in enumerate(text) if char == "{"][:20]))
        return f'{text[: at + 1]}"{key}": {json.dumps(draw(json_leaves))}, {text[at + 1 :]}'
    if kind == "raw_number":
        digits = [i for i, char in enumerate(text) if char.isdigit() and not text[i - 1].isalnum()][:50]
        if digits:
            at = draw(st.sampled_from(digits))
            end = at
            while end < len(text) and (text[end].isdigit() or text[end] in ".eE+-"):
                end += 1
            return text[:at] + draw(st.sampled_from(RAW_NUMBERS)) + text[end:]
    if kind == "deep":
        depth = draw(st.sampled_from([50, 900, 1_100, 20_000]))
        return "[" * depth + text + "]" * depth
    if kind == "padding" and text.endswith("}"):
        size = draw(st.sampled_from([1_000, 300_000, 1_200_000]))
        filler = draw(st.sampled_from(['"', "\x01", "é", "x", "\uffff", "\\u0000"]))
        return text[:-1] + f', "padding": {json.dumps(filler * (size // len(filler)))}' + "}"
    return text


@st.composite
def _byte_mutation(draw: st.DrawFn, body: bytes) -> bytes:
    kind = draw(st.sampled_from(["none", "none", "none", "truncate", "garbage", "bom"]))
    if kind == "truncate" and body:
        return body[: draw(st.integers(0, len(body) - 1))]
    if kind == "garbage":
        return body + draw(st.binary(min_size=1, max_size=20))
    if kind == "bom":
        return b"\xef\xbb\xbf" + body
    return body


@st.composite
def mutated_salesforce(draw: st.DrawFn, sample_path: str) -> bytes:
    ElementTree.register_namespace("soapenv", "http://schemas.xmlsoap.org/soap/envelope/")
    ElementTree.register_namespace("sf", SF_FIELD_NS)
    ElementTree.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")
    root = ElementTree.fromstring(sample(sample_path))
    if draw(st.integers(0, 9)):  # mostly new notifications, so that they are mapped
        fresh = next(_FRESH)
        for offset, node in enumerate(root.iter("{http://soap.sforce.com/2005/09/outbound}Id")):
            node.text = f"04l5e{(fresh + offset) % 10**10:010d}"
    for _ in range(draw(st.integers(0, 4))):
        elements = [element for element in root.iter() if len(element) == 0 and element.text is not None]
        element = draw(st.sampled_from(elements))
        action = draw(st.sampled_from(["text", "text", "huge", "remove", "duplicate", "nil"]))
        parent = next(p for p in root.iter() if element in list(p))
        if action == "text":
            element.text = draw(texts)
        elif action == "huge":
            element.text = draw(st.sampled_from(["9", "é", "<", "&"])) * draw(
                st.sampled_from([1_000, 400_000])
            )
        elif action == "remove" and element in list(parent):
            parent.remove(element)
        elif action == "duplicate":
            copy = ElementTree.SubElement(parent, element.tag)
            copy.text = draw(texts)
        elif action == "nil":
            element.set("{http://www.w3.org/2001/XMLSchema-instance}nil", "true")
    text = ElementTree.tostring(root, encoding="unicode")
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16"]))
    declaration = f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n' if draw(st.booleans()) else ""
    body = (declaration + text).encode(encoding, "surrogatepass")
    return draw(_byte_mutation(body))


header_noise = st.dictionaries(
    st.sampled_from(["x-forwarded-for", "user-agent", "content-type", "x-custom", "cookie", "authorization"]),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40),
    max_size=3,
)
query_noise = st.lists(
    st.tuples(st.sampled_from(["a", "%74oken", "TOKEN", "utm", "x%00"]), st.text(max_size=8)), max_size=2
)

# --- the pipeline on moto ----------------------------------------------------------------------------


@contextmanager
def pipeline() -> Iterator[tuple[Stores, WebhookIngress, DeliveryNormaliser]]:
    with aws_stores() as stores:
        get = stores.resources.get
        sqs = boto3.client("sqs", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        bucket = get("bucket", "claim_checks").name
        parking = ParkingQueue(
            lambda: sqs, get("queue", "unmappable_deliveries").url or "", claim_check_bucket=bucket,
            s3=lambda: s3, inline_limit=CLAIM_CHECK_THRESHOLD_BYTES,
        )  # fmt: skip
        ingress = WebhookIngress(
            connections=connections(),
            secrets=lambda name: {signing_secret_name(c): value for c, value in SECRETS.items()}[name],
            queue=RawDeliveryQueue(
                sqs=lambda: sqs,
                queue_url=get("queue", "raw_deliveries").url or "",
                claim_check_bucket=bucket,
                s3=lambda: s3,
                claim_check_threshold=CLAIM_CHECK_THRESHOLD_BYTES,
            ),
            parking=parking,
            max_body_bytes=MAX_WEBHOOK_BODY_BYTES,
            clock=time.time,
        )
        normaliser = DeliveryNormaliser(
            bodies=DeliveryBodies(s3),
            claims=PlatformEventClaims(
                DynamoDBPersistenceLayer(
                    table_name=get("table", "idempotency").name,
                    boto3_session=boto3.Session(region_name=REGION),
                )
            ),
            publisher=RecordingBus(
                boto3.client("events", region_name=REGION), get("bus", "business_events").name
            ),
            parking=parking,
            archive=RawArchive(
                boto3.client("firehose", region_name=REGION), get("stream", "raw_archive_stream").name
            ),
            entity_sync=stores.entity_sync(),
        )
        yield stores, ingress, normaliser


def take_all(stores: Stores, queue_key: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = stores.resources.get("queue", queue_key).url or ""
    taken: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", []):
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        taken += batch
    return taken


def signed_request(
    connection_id: str, body: bytes, headers: dict[str, str], query: list[tuple[str, str]]
) -> InboundRequest:
    connection = connections()[connection_id]
    signed = vendors.sign(connection, body, BASE_URL, SECRETS[connection_id])
    url = signed.url
    if query:
        url += ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in query)
    # Signed over the final URL (HubSpot signs the URL it called, query string included)
    signed = replace(signed, url=url, headers=vendors.signer_for(connection.platform).headers(
        url, body, SECRETS[connection_id], time.time()))  # fmt: skip
    merged = {k.lower(): v for k, v in headers.items()} | {k.lower(): v for k, v in signed.headers.items()}
    path, _, raw_query = url.split("://", 1)[1].partition("/")[2].partition("?")
    return InboundRequest(
        method="POST", url=url, path="/" + path, raw_query=raw_query, headers=merged, body=body,
        source_ip="192.0.2.10", request_id=f"fuzz-{time.monotonic_ns()}", received_at_epoch=time.time(),
    )  # fmt: skip


def _parked_body(message: dict[str, Any]) -> bytes:
    delivery = RawDelivery.from_message(message["Body"])
    return DeliveryBodies(boto3.client("s3", region_name=REGION)).load(delivery)


def check_delivery(
    stores: Stores,
    ingress: WebhookIngress,
    normaliser: DeliveryNormaliser,
    connection_id: str,
    request: InboundRequest,
) -> None:
    response = ingress.receive(connection_id, request)
    queued, parked = take_all(stores, "raw_deliveries"), take_all(stores, "unmappable_deliveries")
    FUZZ_STATS[f"{connection_id} ingress {response.status}"] += 1

    assert response.status in (200, 400, 401, 413), response.body
    if response.status in (401, 413):
        assert (queued, parked) == ([], []), "a refused request was stored"
        return
    if response.status == 400:
        assert queued == [] and len(parked) == 1
        assert parked[0]["MessageAttributes"]["reason"]["StringValue"]
        assert _parked_body(parked[0]) == request.body
        return
    assert len(queued) == 1 and parked == []

    # The normaliser: never raises on input, and settles every event of the delivery
    message = queued[0]["Body"]
    normaliser.archive([message])
    outcome = normaliser.normalise(message, lambda: 30_000)
    parked = take_all(stores, "unmappable_deliveries")
    assert len(parked) == len(outcome.parked)
    for item in parked:
        attributes = {k: v["StringValue"] for k, v in item["MessageAttributes"].items()}
        assert attributes["error_code"] and attributes["reason"]
        assert _parked_body(item) == request.body
    try:
        expected = {
            event.event_id for event in adapter_for(request_platform(connection_id)).split(request.body, "")
        }
    except Exception:  # the delivery as a whole could not be read: it must be parked whole
        assert set(outcome.settled.values()) == {"parked"}, outcome
        FUZZ_STATS[f"{connection_id} normaliser parked whole"] += 1
        return
    assert expected <= set(outcome.settled), (expected, outcome)
    for state in outcome.settled.values():
        FUZZ_STATS[f"{connection_id} event {state}"] += 1
    # Every amount that reached the bus is valid money
    publisher: RecordingBus = normaliser._publisher  # type: ignore[assignment]
    for event in publisher.sent:
        for money in _money_in(event.payload):
            Money.model_validate(money)
    publisher.sent.clear()


def request_platform(connection_id: str) -> str:
    return connections()[connection_id].platform


class RecordingBus(EventBusPublisher):
    """The real publisher (to moto's EventBridge), keeping what it sent for the money check."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sent: list[Any] = []

    def publish_groups(self, groups: Any, on_sent: Any) -> dict[str, str]:
        failed = super().publish_groups(groups, on_sent)
        self.sent += [event for group in groups for event in group if event.event_id not in failed]
        return failed


def _money_in(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if set(document) == {"amount", "currency"}:
            yield document
        for value in document.values():
            yield from _money_in(value)
    elif isinstance(document, list):
        for value in document:
            yield from _money_in(value)


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CASES: list[tuple[str, Callable[[], st.SearchStrategy[bytes]]]] = [
    ("stripe-acme", lambda: st.sampled_from([
        "stripe/invoice.paid.json", "stripe/invoice.payment_failed.json", "stripe/customer.created.json",
        "stripe/customer.updated.json"]).flatmap(mutated_json)),
    ("hubspot-acme", lambda: st.sampled_from(["hubspot/deal.closed_won.json", "hubspot/company.batch.json"]).flatmap(
        mutated_json)),
    ("salesforce-acme", lambda: st.sampled_from([
        "salesforce/opportunity.closed_won.xml", "salesforce/account.updated.xml"]).flatmap(mutated_salesforce)),
    ("netsuite-acme", lambda: st.sampled_from([
        "netsuite/customer.update.json", "netsuite/customer.delete.json", "netsuite/invoice.paid.json"]).flatmap(
        mutated_json)),
    ("oracle-fusion-acme", lambda: st.sampled_from([
        "oracle_fusion/customerAccount.update.json", "oracle_fusion/receivablesInvoice.paid.json"]).flatmap(
        mutated_json)),
    ("workday-acme", lambda: st.sampled_from([
        "workday/worker.hire.json", "workday/worker.termination.json"]).flatmap(mutated_json)),
]  # fmt: skip


@pytest.mark.parametrize(("connection_id", "bodies"), CASES, ids=[case[0] for case in CASES])
def test_every_authentic_delivery_is_accepted_or_parked_with_its_reason(
    connection_id: str, bodies: Callable[[], st.SearchStrategy[bytes]]
) -> None:
    with pipeline() as (stores, ingress, normaliser):

        @FUZZ_SETTINGS
        @given(body=bodies(), headers=header_noise, query=query_noise)
        def deliver(body: bytes, headers: dict[str, str], query: list[tuple[str, str]]) -> None:
            check_delivery(
                stores,
                ingress,
                normaliser,
                connection_id,
                signed_request(connection_id, body, headers, query),
            )

        deliver()


signature_headers = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=80),
    st.builds(lambda t, v: f"t={t},v1={v}", st.text(max_size=25), st.text(max_size=70)),
    st.builds(lambda t: f"t={t},v1=00", st.integers()),
    st.builds(lambda v, s: f"{v},{s}", st.sampled_from(["v1", "v1a", "v2", ""]), st.text(max_size=60)),
    st.lists(
        st.binary(min_size=32, max_size=32).map(lambda b: "v1," + base64.b64encode(b).decode()), max_size=20
    ).map(" ".join),
)


@FUZZ_SETTINGS
@given(connection_id=st.sampled_from(["stripe-acme", "hubspot-acme", "netsuite-acme", "workday-acme"]),
       signature=signature_headers,
       timestamp=st.one_of(st.text(max_size=25), st.integers().map(str)))  # fmt: skip
def test_a_forged_signature_of_any_shape_is_401_and_stores_nothing(
    connection_id: str, signature: str, timestamp: str
) -> None:
    # No AWS at all: a refused request must not reach a queue, so the queues here fail the test if used
    class Untouchable:
        def enqueue(self, *args: object) -> str:
            raise AssertionError("a forged request reached the raw queue")

        park = enqueue

    ingress = WebhookIngress(
        connections=connections(), secrets=lambda name: "whsec_fuzz_only", queue=Untouchable(),  # type: ignore[arg-type]
        parking=Untouchable(), max_body_bytes=MAX_WEBHOOK_BODY_BYTES, clock=time.time,  # type: ignore[arg-type]
    )  # fmt: skip
    headers = {
        "stripe-signature": signature,
        "x-hubspot-signature-v3": signature,
        "x-hubspot-request-timestamp": timestamp,
        "webhook-id": "msg_forged",
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    request = InboundRequest(
        method="POST", url=f"{BASE_URL}/webhooks/{connection_id}", path=f"/webhooks/{connection_id}", raw_query="",
        headers=headers, body=sample("stripe/invoice.paid.json"), source_ip="192.0.2.1", request_id="forged",
        received_at_epoch=time.time(),
    )  # fmt: skip
    response = ingress.receive(connection_id, request)
    FUZZ_STATS[f"forged {connection_id} {response.status}"] += 1
    assert response.status == 401


def teardown_module() -> None:
    if FUZZ_STATS:
        total = sum(v for k, v in FUZZ_STATS.items() if " ingress " in k or k.startswith("forged"))
        print(f"\nfuzz: {total} cases; " + ", ".join(f"{k}: {v}" for k, v in sorted(FUZZ_STATS.items())))
