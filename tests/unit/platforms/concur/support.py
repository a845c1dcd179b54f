"""Helpers for the Concur tests: test keys, signed requests, the fake and a connector pointed at it."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from functools import cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pshub.connections import Connection
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.pipeline.http import InboundRequest
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms.concur.outbound import ConcurExpenseReports
from pshub_local.platforms.concur.fake import ConcurFake, credentials_for_local
from tests.helpers import inbound

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


@cache
def key_pair(name: str) -> rsa.RSAPrivateKey:
    """A throwaway RSA 2048 key pair per name, made for this test run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(*names: str) -> str:
    """A signing secret holding the public keys of ``names``, with a label line before each."""
    parts = []
    for name in names:
        public = (
            key_pair(name)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        parts.append(f"key {name}:\n{public.decode()}")
    return "".join(parts)


def signature(body: bytes, name: str = "current", scheme: padding.AsymmetricPadding = PSS) -> str:
    return base64.b64encode(key_pair(name).sign(body, scheme, hashes.SHA256())).decode()


def signed(body: bytes, name: str = "current", scheme: padding.AsymmetricPadding = PSS) -> InboundRequest:
    return inbound(
        body, {"Concur-Signature": signature(body, name, scheme), "Content-Type": "application/json"}
    )


def concur_connection(conn_id: str = "concur-acme", **options: str) -> Connection:
    return Connection(
        id=conn_id, platform="concur", role="expense", options=dict(options), implementation="http"
    )


def delivery(body: bytes, **options: str) -> RawDelivery:
    return RawDelivery(
        delivery_id="d-1",
        correlation_id="corr-1",
        connection="concur-acme",
        platform="concur",
        received_at="2026-11-23T09:02:32.000+00:00",
        method="POST",
        url="https://hooks.example.com/webhooks/concur-acme",
        headers={},
        source_ip="192.0.2.10",
        body_text=body.decode(),
        options=dict(options) or None,
    )


@dataclass
class Sleeps:
    """The connector's ``sleep``: records waits instead of sleeping; its ``clock`` moves on by them."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    def clock(self) -> float:
        return time.time() + sum(self.waits)


@dataclass
class Harness:
    fake: ConcurFake
    connection: Connection
    sleeps: Sleeps

    def connector(self, credentials: dict[str, str] | None = None, **options: str) -> ConcurExpenseReports:
        connection = Connection(
            id=self.connection.id,
            platform="concur",
            role="expense",
            options={**self.connection.options, "base_url": self.fake.base_url, **options},
            implementation="http",
        )
        context = ConnectorContext(
            credentials=credentials if credentials is not None else credentials_for_local(self.connection),
            state=MemoryState(),
            sleep=self.sleeps,
            clock=self.sleeps.clock,
        )
        return ConcurExpenseReports(connection, context)

    def operations(self) -> list[str]:
        return [call.operation for call in self.fake.calls()]


def connection_for_tests() -> Connection:
    return concur_connection()
