"""The local HTTP API under load and against malformed HTTP: answered, never hung, never leaking."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import replace

import pytest

from pshub_local.client import send
from tests.e2e.stack import LocalStack
from tests.helpers import sample


def raw_exchange(
    local: LocalStack, request: bytes, *, keep_open_s: float = 0.0, timeout_s: float = 5.0
) -> bytes:
    """Send raw bytes to the server and return what it answers (the connection kept open meanwhile)."""
    with socket.create_connection(("127.0.0.1", local.server.port), timeout=timeout_s) as conn:
        conn.sendall(request)
        if keep_open_s:
            conn.settimeout(keep_open_s)
        received = b""
        try:
            while b"\r\n\r\n" not in received or not _complete(received):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        return received


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


def post(path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_two_hundred_clients_at_once_are_all_answered(local: LocalStack) -> None:
    # Given 200 clients connecting in the same instant (a vendor's retry burst after an outage)
    clients = 200
    start = threading.Barrier(clients)
    statuses: list[int] = []
    failures: list[str] = []

    def client() -> None:
        start.wait()
        try:
            answer = raw_exchange(
                local, post("/webhooks/nobody", {"Content-Length": "2"}, b"{}"), timeout_s=60
            )
            statuses.append(status_of(answer))
        except OSError as error:  # a reset connection: what a listen backlog of 5 did to half of them
            failures.append(type(error).__name__)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    # Then every one of them got the ingress's answer, none was reset
    assert failures == []
    assert statuses == [404] * clients


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Length": "-1"}, b"{}"),
        ({"Content-Length": "abc"}, b"{}"),
        ({"Content-Length": "+2"}, b"{}"),
        ({"Content-Length": "0x2"}, b"{}"),
        ({"Transfer-Encoding": "chunked"}, b"zz\r\n{}\r\n0\r\n\r\n"),
        ({"Transfer-Encoding": "chunked"}, b"2\r\n{}XX0\r\n\r\n"),
        ({"Transfer-Encoding": "chunked", "Content-Length": "2"}, b"2\r\n{}\r\n0\r\n\r\n"),
        ({"Transfer-Encoding": "gzip, chunked"}, b"2\r\n{}\r\n0\r\n\r\n"),
    ],
    ids=["negative-length", "non-numeric-length", "signed-length", "hex-length", "bad-chunk-size",
         "chunk-without-crlf", "length-and-chunked", "unsupported-coding"],
)  # fmt: skip
def test_malformed_framing_is_answered_400_at_once_and_the_stream_not_read_on(
    local: LocalStack, headers: dict[str, str], body: bytes
) -> None:
    # Given a request whose framing no HTTP/1.1 client sends, its connection left open afterwards
    started = time.monotonic()
    answer = raw_exchange(local, post("/webhooks/stripe-acme", headers, body), keep_open_s=3.0)

    # Then it is answered 400 straight away (not read to the end of the stream, not dropped silently)
    assert status_of(answer) == 400, answer[:200]
    assert b"connection: close" in answer.lower()
    assert time.monotonic() - started < 2.5
    assert local.runtime.queue_depth("raw_deliveries") == 0


def test_a_chunk_claiming_terabytes_is_413_without_being_read(local: LocalStack) -> None:
    started = time.monotonic()
    answer = raw_exchange(
        local,
        post("/webhooks/stripe-acme", {"Transfer-Encoding": "chunked"}, b"ffffffffff\r\n{}"),
        keep_open_s=3.0,
    )
    assert status_of(answer) == 413
    assert time.monotonic() - started < 2.5


def test_a_declared_length_far_over_the_limit_is_413_without_reading_it(local: LocalStack) -> None:
    # Content-Length of 60 MiB with only a few bytes sent: answered at once, nothing buffered
    started = time.monotonic()
    answer = raw_exchange(
        local,
        post("/webhooks/stripe-acme", {"Content-Length": str(60 * 1024 * 1024)}, b"{}"),
        keep_open_s=3.0,
    )
    assert status_of(answer) == 413
    assert time.monotonic() - started < 2.5


def test_the_endpoint_token_is_in_no_access_log_line(
    local: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the access log at INFO, as `pshub serve` writes it
    secret = local.runtime.signing_secret("salesforce-acme")
    request = local.signed("salesforce-acme", sample("salesforce/account.updated.xml"))
    with caplog.at_level(logging.INFO, logger="pshub_local.access"):
        # When Salesforce posts to its endpoint URL, as written and with the name percent-encoded
        assert send(request).status == 200
        assert send(replace(request, url=request.url.replace("?token=", "?%74oken="))).status == 200
        # and a malformed request line carrying the token arrives too
        raw_exchange(local, f"POST /webhooks/x?token={secret} HTTP/1.1 extra\r\n\r\n".encode())

    # Then the requests were logged, with the token's value masked every time
    lines = [record.getMessage() for record in caplog.records if record.name == "pshub_local.access"]
    assert len(lines) >= 3
    assert all(secret not in line for line in lines)
    assert sum("token=REDACTED" in line for line in lines) >= 2


def test_a_hundred_and_twenty_concurrent_closed_won_deliveries_never_hang_a_drain(local: LocalStack) -> None:
    # Given 120 different won opportunities posted by Salesforce at once (120 workflows in moto's threads)
    template = sample("salesforce/opportunity.closed_won.xml")
    ids = [f"0065e0000{n:06d}" for n in range(120)]
    bodies = [
        template.replace(b"0065e00000KxYzAAAV", opportunity.encode()).replace(
            b"04l5e00000QwErTAAV", f"04l5e0000{n:06d}".encode()
        )
        for n, opportunity in enumerate(ids)
    ]
    start = threading.Barrier(len(bodies))
    statuses: list[int] = []

    def deliver(body: bytes) -> None:
        start.wait()
        statuses.append(send(local.signed("salesforce-acme", body)).status)

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    # When the pipeline runs them all
    local.runtime.drain(timeout_s=300)

    # Then each was accepted once, each deal started exactly one workflow, and none is left running
    assert statuses == [200] * len(bodies)
    won = {event["detail"]["source_native_id"] for event in local.events_of_type("OpportunityClosedWon")}
    # (as 18-character ids: no upper-case letter in any five-character chunk, so each flag is "A")
    assert won == {f"{opportunity}AAA" for opportunity in ids}
    executions = local.runtime.executions()
    assert len(executions) == len(ids)
    running = [e for e in executions if e["status"] == "RUNNING"]
    assert all(local.runtime.waiting_for_callback(e["executionArn"]) for e in running)
    assert local.runtime.dead_letters() == []
