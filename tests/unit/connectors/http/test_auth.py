"""Auth providers, checked the way each platform checks them (not by re-running our own code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pshub.connectors.errors import PermanentConnectorError
from pshub.connectors.http.auth import (
    NetSuiteTba,
    OAuth2,
    client_credentials,
    netsuite_m2m,
    salesforce_jwt_bearer,
    token_fetcher,
)
from pshub.connectors.http.state import MemoryState
from pshub.connectors.http.tokens import SharedTokens
from tests.unit.connectors.http.support import Clock, Script, client, json_response


@pytest.fixture(scope="module")
def keypair() -> tuple[str, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def test_salesforce_jwt_bearer_assertion_is_what_salesforce_verifies(
    keypair: tuple[str, rsa.RSAPublicKey],
) -> None:
    pem, public = keypair
    clock = Clock()
    url, form = salesforce_jwt_bearer(
        "https://login.salesforce.com/services/oauth2/token",
        "3MVG9CONSUMER",
        "int@acme.example",
        pem,
        clock=clock,
    )(None)
    assert url == "https://login.salesforce.com/services/oauth2/token"
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    # Salesforce: RS256, iss = consumer key, sub = username, aud = login URL, exp within 3 minutes.
    claims = jwt.decode(
        form["assertion"],
        public,
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": "3MVG9CONSUMER",
        "sub": "int@acme.example",
        "aud": "https://login.salesforce.com",
        "exp": int(clock.now) + 180,
    }


def test_netsuite_m2m_client_assertion_is_ps256_with_the_certificate_id(
    keypair: tuple[str, rsa.RSAPublicKey],
) -> None:
    pem, public = keypair
    clock = Clock()
    token_url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
    _, form = netsuite_m2m(token_url, "client-abc", "cert-kid-1", pem, clock=clock)(None)
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header = jwt.get_unverified_header(form["client_assertion"])
    assert (header["alg"], header["kid"]) == ("PS256", "cert-kid-1")
    claims = jwt.decode(
        form["client_assertion"],
        public,
        algorithms=["PS256"],
        audience=token_url,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == "client-abc"
    assert claims["scope"] == ["rest_webservices"]
    assert claims["exp"] - claims["iat"] <= 3600  # NetSuite refuses assertions valid longer than an hour


def _rfc5849_signature(
    method: str, url: str, oauth: dict[str, str], consumer_secret: str, token_secret: str
) -> str:
    """RFC 5849 section 3.4 by hand: base string of method, base URI and sorted parameters."""
    parts = urlsplit(url)
    base_uri = f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
    params = [
        *parse_qsl(parts.query, keep_blank_values=True),
        *((k, v) for k, v in oauth.items() if k not in {"realm", "oauth_signature"}),
    ]
    enc = lambda s: quote(s, safe="~-._")  # noqa: E731
    normalised = "&".join(f"{k}={v}" for k, v in sorted((enc(k), enc(v)) for k, v in params))
    base = "&".join([method.upper(), enc(base_uri), enc(normalised)])
    key = f"{enc(consumer_secret)}&{enc(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()


def test_netsuite_tba_signs_hmac_sha256_over_method_url_and_query_with_the_account_realm() -> None:
    clock = Clock()
    auth = NetSuiteTba("1234567_sb1", "ck", "cs", "tid", "ts", clock=clock, nonce=lambda: "n0nce")
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer?limit=5&q=a b"
    request = httpx.Request("GET", url)
    auth.authorize(request)
    header = request.headers["authorization"]
    assert header.startswith("OAuth ")
    fields = {k.strip(): unquote(v.strip('"')) for k, v in (p.split("=", 1) for p in header[6:].split(","))}
    assert fields["realm"] == "1234567_SB1"
    assert fields["oauth_signature_method"] == "HMAC-SHA256"
    assert (fields["oauth_consumer_key"], fields["oauth_token"]) == ("ck", "tid")
    assert fields["oauth_timestamp"] == str(int(clock.now)) and fields["oauth_nonce"] == "n0nce"
    expected = _rfc5849_signature("GET", str(request.url), fields, "cs", "ts")
    assert fields["oauth_signature"] == expected


def _oauth_client(script: Script, clock: Clock) -> tuple[object, SharedTokens]:
    grant = client_credentials("https://auth.vendor.example/token", "id", "secret-xyz", scope="api")
    fetch = token_fetcher(grant, httpx.Client(transport=httpx.MockTransport(script)), clock=clock)
    tokens = SharedTokens(MemoryState(), "c1", fetch, clock=clock, sleep=clock.sleep)
    return OAuth2(tokens), tokens


def test_client_credentials_token_is_fetched_form_encoded_and_used_as_bearer() -> None:
    clock = Clock()
    tokens_script = Script(
        [json_response(200, {"access_token": "at-1", "expires_in": 3600, "token_type": "Bearer"})]
    )
    auth, tokens = _oauth_client(tokens_script, clock)
    api = Script([json_response(200, {})])
    client(api, clock, auth=auth).request("read", "GET", "/x")  # type: ignore[arg-type]
    [token_request] = tokens_script.requests
    assert dict(parse_qsl(token_request.content.decode())) == {
        "grant_type": "client_credentials",
        "client_id": "id",
        "client_secret": "secret-xyz",
        "scope": "api",
    }
    assert api.requests[0].headers["authorization"] == "Bearer at-1"
    assert tokens.get().expires_at == clock.now + 3600


def test_credentials_refused_by_the_token_endpoint_are_a_permanent_error_naming_the_secret() -> None:
    clock = Clock()
    refused = Script(
        default=json_response(400, {"error": "invalid_client", "error_description": "bad secret"})
    )
    auth, _ = _oauth_client(refused, clock)
    api = Script()
    with pytest.raises(PermanentConnectorError, match="api secret") as raised:
        client(api, clock, auth=auth).request("read", "GET", "/x")  # type: ignore[arg-type]
    assert raised.value.platform_code == "invalid_client"
    assert api.requests == []


def test_a_token_endpoint_outage_is_transient_and_retried() -> None:
    clock = Clock()
    flaky = Script([json_response(503, {}), json_response(200, {"access_token": "at-2", "expires_in": 60})])
    auth, _ = _oauth_client(flaky, clock)
    api = Script([json_response(200, {})])
    client(api, clock, auth=auth).request("read", "GET", "/x")  # type: ignore[arg-type]
    assert api.requests[0].headers["authorization"] == "Bearer at-2"
