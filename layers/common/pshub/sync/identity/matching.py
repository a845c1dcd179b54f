"""Is this the same client as one we know? Link, possible duplicate, or new.

A wrong link posts hours and invoices to another legal customer, so a link needs proof
and everything uncertain goes to a person:

- **link** when a validated strong id (scoped to its country) is shared and nothing
  speaks against it, or when the normalised legal name, the website domain and the
  country are all the same and nothing speaks against it;
- **possible duplicate** when anything points at a known client without proving it: a
  similar name (a typo, a missing word), the same name or domain in another country or
  with another registration id (a parent and its subsidiary are two legal customers), a
  shared id whose names have nothing in common, or more than one client that would link;
- **new** when nothing points at any known client.

Evidence against: a different id in the same scheme and country, a different country,
names that share nothing. Whatever the names say, a conflicting strong id never links.
The decision records the evidence for and against each candidate; it is kept on the
link and put on the possible-duplicate exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

from pshub.sync.identity.domains import email_domain, website_domain
from pshub.sync.identity.ids import StrongId, strong_ids
from pshub.sync.identity.names import distinctive_words, normalise_name

Outcome = Literal["link", "possible_duplicate", "new"]
# Names at least this alike (difflib's ratio over the normalised keys) are a near-miss.
SIMILAR_NAME = 0.85
# Names less alike than this share nothing: evidence against a shared id.
UNRELATED_NAME = 0.5
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}


@dataclass(frozen=True)
class ClientFacts:
    """What one record says about who the client is, as typed on its platform."""

    name: str | None = None
    legal_name: str | None = None
    country: str | None = None
    web_domain: str | None = None
    emails: tuple[str, ...] = ()
    tax_ids: tuple[str, ...] = ()
    registration_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClientProfile:
    """A client's identity facts, normalised: what matching compares and the index stores."""

    names: tuple[str, ...] = ()
    country: str | None = None
    domains: tuple[str, ...] = ()
    strong_ids: tuple[str, ...] = ()  # StrongId keys, ``scheme:CC:value``

    def index_keys(self) -> set[str]:
        """The keys under which a client with these facts can be found again.

        Strong ids, whole names and domains find exact matches; a name's first and last
        distinctive words find near-misses (a typo in one word, a word left out).
        """
        keys = {f"id:{sid}" for sid in self.strong_ids}
        keys |= {f"domain:{d}" for d in self.domains}
        for name in self.names:
            keys.add(f"name:{name}")
            words = distinctive_words(name)
            if words and words != [name]:
                keys.update(f"word:{w}" for w in {words[0], words[-1]})
        return keys

    def ids(self) -> set[StrongId]:
        return {StrongId.from_key(k) for k in self.strong_ids}

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "country": self.country,
            "domains": list(self.domains),
            "strong_ids": list(self.strong_ids),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ClientProfile:
        return cls(
            names=tuple(doc.get("names") or ()),
            country=doc.get("country"),
            domains=tuple(doc.get("domains") or ()),
            strong_ids=tuple(doc.get("strong_ids") or ()),
        )


@dataclass
class Evidence:
    for_: list[str] = field(default_factory=list)
    against: list[str] = field(default_factory=list)
    linkable: bool = False

    def to_dict(self) -> dict[str, list[str]]:
        return {"for": self.for_, "against": self.against}


@dataclass
class MatchDecision:
    outcome: Outcome
    link_to: str | None = None
    candidates: tuple[str, ...] = ()  # the known clients the evidence points at, strongest first
    evidence: dict[str, Evidence] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "link_to": self.link_to,
            "candidates": list(self.candidates),
            "evidence": {cid: self.evidence[cid].to_dict() for cid in self.candidates},
        }


def normalise_country(value: str | None) -> str | None:
    if not value or not isinstance(value, str):
        return None
    code = value.strip().upper()
    code = _COUNTRY_ALIASES.get(code, code)
    return code if len(code) == 2 and code.isalpha() else None


def profile(facts: ClientFacts) -> ClientProfile:
    """Normalise one record's facts (names, country, domains, validated strong ids)."""
    country = normalise_country(facts.country)
    names = tuple(dict.fromkeys(n for n in map(normalise_name, (facts.legal_name, facts.name)) if n))
    domains = [website_domain(facts.web_domain)] + [email_domain(e) for e in facts.emails]
    ids = {sid.key for raw in (*facts.tax_ids, *facts.registration_ids) for sid in strong_ids(raw, country)}
    return ClientProfile(
        names=names,
        country=country,
        domains=tuple(dict.fromkeys(d for d in domains if d)),
        strong_ids=tuple(sorted(ids)),
    )


def _name_likeness(a: Iterable[str], b: Iterable[str]) -> float:
    pairs = [(x, y) for x in a for y in b]
    if not pairs:
        return -1.0  # unknown
    return max(1.0 if x == y else SequenceMatcher(None, x, y, autojunk=False).ratio() for x, y in pairs)


def weigh(incoming: ClientProfile, known: ClientProfile) -> Evidence:
    """The evidence for and against ``incoming`` being the client ``known`` describes."""
    evidence = Evidence()
    ours, theirs = incoming.ids(), known.ids()
    shared = ours & theirs
    for sid in sorted(shared):
        evidence.for_.append(f"same {sid.describe()}")
    our_schemes = {(s.scheme, s.country) for s in ours}
    for scheme, country in sorted(our_schemes & {(s.scheme, s.country) for s in theirs}):
        if not any(s.scheme == scheme and s.country == country for s in shared):
            evidence.against.append(f"different {scheme.upper()} ({country})")
    if incoming.country and known.country and incoming.country != known.country:
        evidence.against.append(f"registered in {incoming.country}, the known client in {known.country}")
    likeness = _name_likeness(incoming.names, known.names)
    same_name = likeness == 1.0
    if same_name:
        evidence.for_.append("same legal name")
    elif likeness >= SIMILAR_NAME:
        evidence.for_.append(f"similar name ({likeness:.0%} alike)")
    same_domain = sorted(set(incoming.domains) & set(known.domains))
    for domain in same_domain:
        evidence.for_.append(f"same website domain {domain}")
    if shared and 0 <= likeness < UNRELATED_NAME and not same_domain:
        evidence.against.append("names have nothing in common")
    same_country = bool(incoming.country) and incoming.country == known.country
    evidence.linkable = not evidence.against and (
        bool(shared) or (same_name and bool(same_domain) and same_country)
    )
    return evidence


def decide(incoming: ClientProfile, candidates: Mapping[str, ClientProfile]) -> MatchDecision:
    """Link to one known client, flag a possible duplicate, or call it new (see the module doc)."""
    weighed = {cid: weigh(incoming, known) for cid, known in candidates.items()}
    relevant = {cid: e for cid, e in weighed.items() if e.for_}
    ranked = tuple(
        sorted(
            relevant,
            key=lambda cid: (
                not relevant[cid].linkable,
                -len(relevant[cid].for_),
                len(relevant[cid].against),
                cid,
            ),
        )
    )
    linkable = [cid for cid in ranked if relevant[cid].linkable]
    if len(linkable) == 1:
        return MatchDecision("link", linkable[0], (linkable[0],), {linkable[0]: relevant[linkable[0]]})
    if ranked:
        return MatchDecision("possible_duplicate", None, ranked, relevant)
    return MatchDecision("new")
