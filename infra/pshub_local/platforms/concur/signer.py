"""Concur ESS's signature: base64 of RSA-PSS (MGF1-SHA-256) with SHA-256 over the raw body.

Header ``Concur-Signature``; ESS also sends ``Concur-Correlationid`` (the event's
``correlationId``). Concur signs with its private key and subscribers verify with its published
public key; locally the signer plays Concur with a demo key pair derived from a fixed seed, so
that every process (``pshub serve``, ``pshub sign``) holds the same pair without a key file.

LOCAL-ONLY: anyone can derive that private key from this file. The local signing secret of a
Concur connection is the demo public key in PEM (what the adapter reads from a signing secret),
followed by the usual ``localdemo-`` marker; never put that key in a deployed secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pshub_local.platforms.signing import Signer

_SEED = b"pshub local demo: SAP Concur ESS signing key (LOCAL-ONLY, public seed)"
_PUBLIC_EXPONENT = 65537
_SMALL_PRIMES = tuple(p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2)))
_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def _probably_prime(n: int) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in _WITNESSES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(label: bytes, bits: int) -> int:
    """The first prime of a deterministic stream of ``bits``-bit odd candidates (top two bits set)."""
    counter = 0
    while True:
        counter += 1
        stream = hashlib.shake_256(_SEED + label + counter.to_bytes(8, "big")).digest(bits // 8)
        candidate = int.from_bytes(stream, "big") | (3 << (bits - 2)) | 1
        if (candidate - 1) % _PUBLIC_EXPONENT and _probably_prime(candidate):
            return candidate


@cache
def demo_private_key() -> rsa.RSAPrivateKey:
    """The local demo key pair (RSA 2048), the same in every process."""
    p, q = _prime(b"p", 1024), _prime(b"q", 1024)
    n = p * q
    d = pow(_PUBLIC_EXPONENT, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(_PUBLIC_EXPONENT, n)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return numbers.private_key()


@cache
def demo_public_pem() -> str:
    return (
        demo_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def concur_signature(body: bytes, key: rsa.RSAPrivateKey | None = None) -> str:
    """The ``Concur-Signature`` of ``body`` signed by ``key`` (default: the local demo key)."""
    signer = key or demo_private_key()
    return base64.b64encode(signer.sign(body, _PSS, hashes.SHA256())).decode()


def _correlation_id(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    value = document.get("correlationId") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


class ConcurSigner(Signer):
    # The local secret is the demo public key in PEM, then the marker and the connection's digest.
    secret_prefix = f"LOCAL-ONLY demo key of the Concur signer\n{demo_public_pem()}localdemo-concur-"
    max_age_s = None  # ESS signs no time

    def headers(self, url: str, body: bytes, secret: str, now: float) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Concur-Signature": concur_signature(body)}
        correlation = _correlation_id(body)
        if correlation:
            headers["Concur-Correlationid"] = correlation
        return headers


SIGNER = ConcurSigner()
