"""Duplicate detection for clients: normalised legal name, web domain and tax id.

A confident match links the new native record to the existing canonical client; an
ambiguous one becomes a "possible duplicate client" exception for a person; nothing
is merged silently.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

_LEGAL_FORMS = frozenset(
    [
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "llc",
        "llp",
        "lp",
        "plc",
        "corp",
        "corporation",
        "co",
        "company",
        "gmbh",
        "ag",
        "kg",
        "sa",
        "sas",
        "sarl",
        "bv",
        "nv",
        "pty",
        "pte",
        "srl",
        "spa",
        "oy",
        "ab",
        "as",
        "aps",
        "kk",
    ]
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise_name(name: str | None) -> str | None:
    if not name:
        return None
    text = (
        unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace("&", " and ")
    )
    words = [w for w in _NON_WORD.split(text) if w]
    while words and words[-1] in _LEGAL_FORMS:  # "Acme Consulting Ltd." == "ACME Consulting Limited"
        words.pop()
    return " ".join(words) or None


def normalise_domain(value: str | None) -> str | None:
    if not value:
        return None
    host = value.strip().lower().split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.removeprefix("www.") or None


def normalise_tax_id(value: str | None) -> str | None:
    if not value:
        return None
    return re.sub(r"[^A-Z0-9]", "", value.upper()) or None


def match_keys(name: str | None, domain: str | None, tax_id: str | None) -> dict[str, str]:
    keys = {
        "name": normalise_name(name),
        "domain": normalise_domain(domain),
        "tax_id": normalise_tax_id(tax_id),
    }
    return {kind: value for kind, value in keys.items() if value}


@dataclass(frozen=True)
class MatchDecision:
    link_to: str | None  # confident match
    candidates: frozenset[str]  # ambiguous: a person decides

    @property
    def ambiguous(self) -> bool:
        return self.link_to is None and bool(self.candidates)


def decide(found: Mapping[str, set[str]]) -> MatchDecision:
    everyone = frozenset().union(*found.values()) if found else frozenset()
    tax = found.get("tax_id", set())
    if len(tax) == 1 and everyone == tax:
        return MatchDecision(next(iter(tax)), frozenset())
    name, domain = found.get("name", set()), found.get("domain", set())
    both = name & domain
    if not tax and len(both) == 1 and everyone == both:
        return MatchDecision(next(iter(both)), frozenset())
    return MatchDecision(None, everyone)
