"""Identity figures: false merges, links, possible duplicates and misses on a messy corpus.

The corpus is built from companies of the kind firms bill across jurisdictions, each seen
in several systems as its people type it (case, legal forms spelled out or dropped,
transliterations, websites typed with schemes and paths, contacts' emails, tax ids with
and without prefixes and punctuation, placeholders, typos), plus the records that must
never merge with them: subsidiaries with the same name and website in other countries,
sister companies with another registration id, and different companies with similar
names. Every record goes through the real entity sync on moto DynamoDB in a random order.

Figures (the truth is the corpus's own label, never the matcher's):
- false merges: records bound to a client that holds another company (goal 0, always);
- links: records of an already-known company bound to it;
- possible duplicates: raised for a true duplicate (right to ask) and for a distinct
  company (a person says "distinct");
- misses: a known company's record made a new client with no question asked.

Usage: python tests/benchmarks/bench_identity.py [--seed 7] [--orders 3]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers/common"), str(REPO / "infra"), str(REPO)]


@dataclass
class Company:
    key: str  # the truth label
    legal: str  # as registered
    crm: str  # as sales typed it
    country: str
    domain: str | None
    tax: str | None = None  # as typed in the ERP
    tax_billing: str | None = None  # as typed in billing
    email: str | None = None


@dataclass
class Record:
    truth: str
    connection: str
    platform: str
    native_id: str
    name: str
    country: str | None
    website: str | None = None
    email: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


COMPANIES = [
    Company(
        "muller-de",
        "Müller Beratung GmbH",
        "Mueller Beratung",
        "DE",
        "mueller-beratung.example",
        "DE 136 695 976",
        "de136695976",
        "rechnung@mueller-beratung.example",
    ),
    Company(
        "sgi-fr",
        "Société Générale d'Ingénierie SAS",
        "SOCIETE GENERALE D'INGENIERIE",
        "FR",
        "sgi.example",
        "FR 44 732 829 320",
        "732 829 320 00074",
    ),
    Company(
        "harbour-us",
        "Harbourline Logistics, Inc.",
        "Harbourline Logistics",
        "US",
        "harbourline.example",
        "04-2103594",
        "042103594",
        "ap@harbourline.example",
    ),
    Company(
        "fabrikam-au",
        "Fabrikam Pty Ltd",
        "Fabrikam",
        "AU",
        "fabrikam.example.au",
        "51 824 753 556",
        "51824753556",
    ),
    Company(
        "contoso-gb",
        "Contoso Consulting Limited",
        "Contoso Consulting Ltd",
        "GB",
        "contoso.example",
        "GB 980 7806 84",
        "980780684",
    ),
    Company(
        "helvetia-ch",
        "Helvetia Beratung AG",
        "Helvetia Beratung SA",
        "CH",
        "helvetia.example",
        "CHE-116.281.710 MWST",
        "CHE116281710",
    ),
    Company(
        "soren-dk",
        "Søren Rådgivning ApS",
        "Soeren Raadgivning",
        "DK",
        "soren.example",
        None,
        None,
        "faktura@soren.example",
    ),
    Company(
        "lodz-pl",
        "Łódź Software sp. z o.o.",
        "Lodz Software",
        "PL",
        "lodz-software.example",
        "PL 526-025-09-95",
        "5260250995",
    ),
    Company(
        "tata-in",
        "Tata Advisory Services Private Limited",
        "Tata Advisory Services Pvt Ltd",
        "IN",
        "tata-advisory.example",
        "27AAPFU0939F1ZV",
        "27AAPFU0939F1ZV",
    ),
    Company("romashka-ru", "ООО «Ромашка»", "Ромашка", "RU", "romashka.example"),  # noqa: RUF001
    Company("toyota-jp", "株式会社トヨタ商事", "トヨタ商事", "JP", "toyota-shoji.example"),
    Company("nandu-mx", "Ñandú Servicios S.A. de C.V.", "Nandu Servicios", "MX", "nandu.example"),
    Company(
        "obrien-ie",
        "O'Brien & Sons Limited",
        "OBrien and Sons",
        "IE",
        "obrien.example",
        "IE 6388047V",
        "IE6388047V",
    ),
    Company(
        "quell-at", "Quellwerk GmbH", "QUELLWERK", "AT", "quellwerk.example", "ATU13585627", "ATU 135 856 27"
    ),
    Company(
        "adatum-nl", "Adatum B.V.", "Adatum", "NL", "adatum.example", "NL004495445B01", "NL 0044.95.445.B01"
    ),
    Company(
        "initech-us",
        "Initech LLC",
        "Initech",
        "US",
        "initech.example",
        "N/A",
        "pending",
        "bill@initech.example",
    ),
    Company(
        "globex-ca",
        "Globex Corporation Ltd./Ltée",
        "Globex Corporation",
        "CA",
        "globex.example",
        "123456782RT0001",
        "123456782",
    ),
    Company(
        "litware-be", "Litware SA", "Litware", "BE", "litware.example", "BE 0428.759.497", "BE0428759497"
    ),
]
# Records that must never merge with the companies above (the truth differs).
ADVERSARIES = [
    # a subsidiary: same name and website, another country, its own VAT number
    Record(
        "contoso-ie",
        "netsuite-acme",
        "netsuite",
        "ns-contoso-ie",
        "Contoso Consulting Limited",
        "IE",
        "contoso.example",
        properties={"vat_number": "IE 6433435F"},
    ),
    Record(
        "muller-at",
        "netsuite-acme",
        "netsuite",
        "ns-muller-at",
        "Müller Beratung GmbH",
        "AT",
        "mueller-beratung.example",
    ),
    # a sister company: same name, same country, another Companies House number
    Record(
        "contoso-gb-2",
        "netsuite-acme",
        "netsuite",
        "ns-contoso-2",
        "Contoso Consulting Limited",
        "GB",
        properties={"registration_number": "SC123456"},
    ),
    # different companies, similar or shared words
    Record(
        "harbour-freight",
        "hubspot-acme",
        "hubspot",
        "hs-hf",
        "Harbourline Freight Inc.",
        "US",
        "harbourline-freight.example",
    ),
    Record(
        "fabrikam-nz", "hubspot-acme", "hubspot", "hs-fab-nz", "Fabrikam Limited", "NZ", "fabrikam.example.nz"
    ),
    Record(
        "initech-gb",
        "stripe-acme",
        "stripe",
        "cus_initgb",
        "Initech Ltd",
        "GB",
        None,
        "jo@gmail.com",
        {"tax_id": "N/A"},
    ),
    Record(
        "globex-us", "stripe-acme", "stripe", "cus_globus", "Globex Corporation", "US", "globex-us.example"
    ),
]


def _typo(name: str, rng: random.Random) -> str:
    words = name.split()
    long = [i for i, w in enumerate(words) if len(w) > 5 and w.isascii() and w.isalpha()]
    if not long:
        return name
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def corpus(rng: random.Random) -> list[Record]:
    records: list[Record] = []
    for c in COMPANIES:
        www = f"https://www.{c.domain}/" if c.domain else None
        records.append(Record(c.key, "salesforce-acme", "salesforce", f"sf-{c.key}", c.crm, c.country,
                              www, properties={"legal_name": c.legal}))  # fmt: skip
        records.append(Record(c.key, "netsuite-acme", "netsuite", f"ns-{c.key}", c.legal.upper(), c.country,
                              c.domain, properties={"vat_number": c.tax} if c.tax else {}))  # fmt: skip
        records.append(Record(c.key, "stripe-acme", "stripe", f"cus_{c.key}", c.legal, c.country, None,
                              c.email, {"tax_id": c.tax_billing} if c.tax_billing else {}))  # fmt: skip
        # and one typed by hand in the PSA with a typo, its website and nothing else
        records.append(Record(c.key, "hubspot-acme", "hubspot", f"hs-{c.key}", _typo(c.crm, rng), c.country,
                              c.domain))  # fmt: skip
    return records + list(ADVERSARIES)


def run(seed: int) -> Counter[str]:
    from pshub.business_exceptions import Category
    from pshub.canonical.envelope import ClientUpsertedV1, make_event
    from tests.integration.aws import aws_stores

    rng = random.Random(seed)
    records = corpus(rng)
    rng.shuffle(records)
    figures: Counter[str] = Counter()
    at = datetime(2026, 11, 20, tzinfo=UTC)
    with aws_stores() as stores:
        sync = stores.entity_sync()
        holds: dict[str, set[str]] = defaultdict(set)  # canonical id -> truths bound to it
        seen_truths: set[str] = set()
        for n, r in enumerate(records):
            payload = ClientUpsertedV1(
                client_id=r.native_id, change="created", name=r.name, web_domain=r.website, email=r.email,
                country=r.country, properties=dict(r.properties),
            )  # fmt: skip
            event = make_event(
                "ClientUpserted", payload, connection=r.connection, source_platform=r.platform,
                source_native_id=r.native_id, source_event_id=f"bench-{n}",
                occurred_at=at + timedelta(seconds=n), correlation_id=f"bench-{n}", legal_entity=None,
            )  # fmt: skip
            before = {e.id for e in stores.exceptions.list()}
            decision = sync.apply(event, "crm")
            sync.complete(event, decision)
            cid = decision.canonical_id or ""
            flagged = [
                e for e in stores.exceptions.list()
                if e.id not in before and e.category is Category.POSSIBLE_DUPLICATE_CLIENT
            ]  # fmt: skip
            known_truth = r.truth in seen_truths
            if holds[cid] - {r.truth}:
                figures["false merges"] += 1
            elif holds[cid]:
                figures["links"] += 1
            elif flagged:
                candidates = flagged[0].context["candidates"]
                right = any(r.truth in holds[c] for c in candidates)
                figures["possible duplicates (a true duplicate)" if right else
                        "possible duplicates (a distinct company)"] += 1  # fmt: skip
            elif known_truth:
                figures["misses"] += 1
                print(f"  miss: {r.truth} on {r.connection} as {r.name!r}", file=sys.stderr)
            else:
                figures["new clients"] += 1
            holds[cid].add(r.truth)
            seen_truths.add(r.truth)
        figures["records"] = len(records)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--orders", type=int, default=3, help="random arrival orders to run")
    args = parser.parse_args()
    from tests.benchmarks.bench_ingress import _stdout_to_devnull

    total: Counter[str] = Counter()
    for order in range(args.orders):
        with _stdout_to_devnull():
            total += run(args.seed + order)
    print(f"identity: {len(COMPANIES)} companies in 4 systems each, {len(ADVERSARIES)} look-alikes that must not "
          f"merge, {args.orders} arrival orders")  # fmt: skip
    for name in ("records", "false merges", "links", "possible duplicates (a true duplicate)",
                 "possible duplicates (a distinct company)", "misses", "new clients"):  # fmt: skip
        print(f"  {name:42s} {total[name]:5d}")


if __name__ == "__main__":
    main()
