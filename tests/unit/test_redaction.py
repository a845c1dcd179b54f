"""Credentials in query strings are masked on the names the query parser decodes, not on spellings."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from pshub.pipeline.http import redact_query, redact_text
from tests.helpers import inbound, sample
from tests.unit.test_ingress import SECRET, make_ingress


@pytest.mark.parametrize(
    "query",
    ["token=s3cr3t", "%74oken=s3cr3t", "to%6Ben=s3cr3t", "%74%6F%6B%65%6E=s3cr3t", "%54%4F%4B%45%4E=s3cr3t",
     "TOKEN=s3cr3t", "a=1&token=s3cr3t&b=2", "token=x&token=s3cr3t", "api_key=s3cr3t", "secret=s3cr3t",
     "+token=s3cr3t", "token+=s3cr3t", "sig=s3cr3t"],
)  # fmt: skip
def test_every_spelling_of_a_credential_parameter_is_masked(query: str) -> None:
    redacted = redact_query(query)
    assert "s3cr3t" not in redacted
    # whatever the parser reads under a credential-like name is now the mask
    for name, values in parse_qs(redacted, keep_blank_values=True).items():
        if name.strip().lower() in ("token", "secret", "api_key", "sig"):
            assert values == ["REDACTED"] * len(values)


@pytest.mark.parametrize("query", ["a=1&b=2", "tokens=1", "monkey=1", "x=%74oken", "token", ""])
def test_other_parameters_stay_exactly_as_received(query: str) -> None:
    assert redact_query(query) == query


def test_query_strings_inside_log_text_are_masked() -> None:
    line = "code 400, message Bad request syntax ('POST /webhooks/x?%74oken=s3cr3t&a=1 HTTP/1.1 x')"
    assert redact_text(line) == line.replace("s3cr3t", "REDACTED")


@pytest.mark.parametrize("name", ["token", "%74oken", "tok%65n", "%74%6f%6b%65%6e"])
def test_a_stored_delivery_never_holds_the_token_however_it_was_spelled(name: str) -> None:
    # Given Salesforce's endpoint URL with the token parameter's name spelled `name`
    ingress, queue, _ = make_ingress()
    url = f"https://hooks.example.com/webhooks/salesforce-acme?{name}={SECRET}"
    request = inbound(sample("salesforce/opportunity.closed_won.xml"), {"Content-Type": "text/xml"}, url=url)

    # When it is received, it verifies (the parser decodes the name) and is stored without the token
    assert ingress.receive("salesforce-acme", request).status == 200
    [(delivery, _)] = queue.stored
    assert SECRET not in delivery.to_json() and SECRET not in delivery.to_message()
    assert delivery.url.endswith(f"?{name}=REDACTED")
