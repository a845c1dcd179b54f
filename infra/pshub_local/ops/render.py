"""What the operator commands print: tables on a terminal (rich), JSON for scripts, and never
a rate, a salary, a secret or personal data.

``mask`` walks a document and replaces the value of every field whose name says it is one
(``rate``, ``bill_rate_in_cents``, ``salary``, ``email``, ``tax_id``, ``authorization`` ...),
however deep; a text body (XML, a form) has the same fields masked in place. Amounts of
money that are not rates (an invoice total, the value at risk) are business facts and stay.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

MASK = "***"
_SENSITIVE_WORDS = frozenset(
    [
        "rate",
        "rates",
        "salary",
        "salaries",
        "compensation",
        "wage",
        "wages",
        "hourly",
        "email",
        "e-mail",
        "phone",
        "mobile",
        "iban",
        "ssn",
        "birth",
        "dob",
        "password",
        "passwd",
        "secret",
        "token",
        "signature",
        "authorization",
        "cookie",
        "apikey",
    ]
)
_SENSITIVE_PAIRS = frozenset(
    {("tax", "id"), ("tax", "number"), ("vat", "number"), ("account", "number"), ("national", "id"),
     ("api", "key"), ("bank", "account"), ("date", "of")}
)  # fmt: skip
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# In a text body: <Rate__c>275</Rate__c> or rate=275 / "rate": 275 (when the JSON did not parse).
_TEXT_FIELD = re.compile(
    r"(?P<open><(?P<tag>[\w:.-]+)(?:\s[^>]*)?>)(?P<value>[^<]*)(?P<close></(?P=tag)>)"
    r"|(?P<key>(?P<name>\b[\w.-]+)[\"']?\s*[=:]\s*[\"']?)(?P<kv>[^\"'&,}\s<]+)"
)


def is_sensitive(name: str) -> bool:
    """By the words of the field's name (``billRateInCents``, ``Rate__c``, ``tax_id``), not substrings:
    ``separate`` and ``corporate`` are not rates."""
    words = [w.lower() for w in _WORD.findall(name.rsplit(":", 1)[-1])]
    return any(w in _SENSITIVE_WORDS for w in words) or any(
        pair in _SENSITIVE_PAIRS for pair in itertools.pairwise(words)
    )


def mask(document: Any) -> Any:
    """A copy of ``document`` with every sensitive field's value replaced by ``***``."""
    if isinstance(document, dict):
        masked: dict[str, Any] = {}
        for key, value in document.items():
            if is_sensitive(str(key)) and not isinstance(value, dict | list):
                masked[key] = MASK if value not in (None, "") else value
            elif is_sensitive(str(key)):
                masked[key] = _mask_all(value)
            else:
                masked[key] = mask(value)
        # HubSpot-style {"name": "hourly_rate", "value": "260"} / {"propertyName": ..., "propertyValue": ...}
        for name_key, value_key in (("name", "value"), ("propertyName", "propertyValue")):
            if (
                isinstance(masked.get(name_key), str)
                and value_key in masked
                and is_sensitive(masked[name_key])
            ):
                masked[value_key] = MASK
        return masked
    if isinstance(document, list):
        return [mask(item) for item in document]
    if isinstance(document, str):
        return mask_text(document)
    return document


def _mask_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return MASK if value not in (None, "") else value


def mask_text(text: str) -> str:
    """A body as text: parsed and masked if it is JSON, else its sensitive fields masked in place."""
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            return json.dumps(mask(json.loads(text)), ensure_ascii=False)
        except ValueError:
            pass
    return _TEXT_FIELD.sub(_masked_match, text)


def _masked_match(match: re.Match[str]) -> str:
    if match.group("open"):
        if not is_sensitive(match.group("tag")):
            return match.group(0)
        return f"{match.group('open')}{MASK}{match.group('close')}"
    if not is_sensitive(match.group("name")):
        return match.group(0)
    return f"{match.group('key')}{MASK}"


def console(out: TextIO) -> Console:
    """A console on ``out``: colours on a terminal, plain and wide (no wrapping) otherwise."""
    terminal = out.isatty() if hasattr(out, "isatty") else False
    return Console(file=out, width=None if terminal else 200, highlight=False, soft_wrap=not terminal)


def print_json(out: TextIO, document: Any) -> None:
    out.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def progress(description: str, total: int) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal (nothing otherwise); yields ``advance(n)``."""
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(file=sys.stderr), disable=not sys.stderr.isatty(), transient=True,
    )  # fmt: skip
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def age(seconds: float | None) -> str:
    """``95`` -> ``1m35s``, ``90000`` -> ``1d1h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if s >= size:
            return f"{s // size}{unit}{(s % size) // subsize}{sub}"
    return f"{s}s"
