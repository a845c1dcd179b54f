"""What request and response logs may show: no token, secret or personal data.

Headers are masked by name (credentials and cookies), URLs by their query parameter
names (the ingress's redaction), and bodies, logged only at DEBUG, through
Powertools Data Masking over the fields each connector names as personal or secret
(plus the credential fields every token endpoint returns).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from pshub.pipeline.http import REDACTED, redact_query

_SECRET_HEADERS = re.compile(
    r"authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|"
    r".*(token|secret|signature|password|session).*",
    re.I,
)
# Fields a token endpoint or an auth body carries, masked in every body whatever the connector says.
CREDENTIAL_FIELDS = (
    "$..access_token",
    "$..refresh_token",
    "$..id_token",
    "$..client_secret",
    "$..client_assertion",
    "$..assertion",
    "$..password",
)


def mask_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, credential values replaced."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name.lower(): REDACTED if _SECRET_HEADERS.fullmatch(name) else value for name, value in items}


def mask_url(url: str) -> str:
    """The URL with credential-like query parameters redacted."""
    base, question, query = url.partition("?")
    return f"{base}?{redact_query(query)}" if question else base


@cache
def _masker() -> Any:
    from aws_lambda_powertools.utilities.data_masking import DataMasking

    return DataMasking(raise_on_missing_field=False)


def mask_body(document: object, fields: Iterable[str] = ()) -> object:
    """A JSON document with credential fields and ``fields`` (JSONPath) erased."""
    if not isinstance(document, dict | list):
        return document
    with warnings.catch_warnings():  # a field absent from this body is the common case, not news
        warnings.simplefilter("ignore", UserWarning)
        return _masker().erase(document, fields=[*CREDENTIAL_FIELDS, *fields])
