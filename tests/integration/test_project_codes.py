"""Project codes: unique across deals, the same for every retry of one deal, in the human format.

On moto, in the identity table the topology declares (the one CDK deploys and the
provisioning function already writes), through the same allocator the workflow uses.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from pshub.connectors.results import OpportunityDetails
from pshub.store.project_codes import ProjectCodeAllocator, SeriesExhausted
from pshub.workflows.provisioning.config import load_provisioning_config
from pshub.workflows.provisioning.steps import ProvisioningSteps, StepFailed, code_series
from pshub_infra.topology import CONNECTIONS_FILE, REPO_ROOT
from pshub_local.platforms import seed
from tests.integration.aws import REGION, Stores, aws_stores

# What the ERP accepts as a project code (NetSuite's configured pattern).
ERP_CODE_PATTERN = re.compile(
    next(
        c["options"]["project_code_pattern"]
        for c in json.loads(CONNECTIONS_FILE.read_text())["connections"]
        if "project_code_pattern" in c.get("options", {})
    )
)


@pytest.fixture
def stores() -> Iterator[Stores]:
    with aws_stores() as value:
        yield value


@pytest.fixture
def atomic_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each item write atomically (a condition and its write, an ADD); moto
    in-process does not: its backend reads and writes the item in Python, and threads can
    interleave there. Serialising its item operations gives it DynamoDB's guarantee, so a
    concurrent test examines the allocator's protocol rather than moto's threading."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "get_item", "delete_item", "transact_write_items"):
        operation = getattr(DynamoDBBackend, name)

        def serialised(*args: Any, __operation: Any = operation, **kwargs: Any) -> Any:
            with lock:
                return __operation(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, serialised)


def allocator(stores: Stores, **options: Any) -> ProjectCodeAllocator:
    return ProjectCodeAllocator(
        boto3.client("dynamodb", region_name=REGION),
        stores.resources.get("table", "identity").name,
        **options,
    )


def test_codes_are_numbered_per_client_series_in_the_erps_format(stores: Stores) -> None:
    codes = allocator(stores)
    harbour = code_series("Harbourline Logistics Inc.")
    acme = code_series("Acme Consulting Ltd")
    # Two deals of one client, one of another
    first = codes.code_for("opportunity_1", harbour)
    second = codes.code_for("opportunity_2", harbour)
    other = codes.code_for("opportunity_3", acme)
    assert (first, second, other) == ("PRJ-HARBLOGI-0001", "PRJ-HARBLOGI-0002", "PRJ-ACMECONS-0001")
    assert all(ERP_CODE_PATTERN.fullmatch(code) for code in (first, second, other))


@pytest.mark.parametrize("name", ["", "A", "株式会社", "O'Brien & Sons Ltd", "Zürich Versicherung AG", "X Y"])
def test_any_client_name_gives_a_code_the_erp_accepts(stores: Stores, name: str) -> None:
    code = allocator(stores).code_for("opportunity_1", code_series(name))
    assert ERP_CODE_PATTERN.fullmatch(code), code


def test_a_retry_gets_the_code_it_got_the_first_time_for_one_read(stores: Stores) -> None:
    codes = allocator(stores)
    first = codes.code_for("opportunity_1", "PRJ-HARB")
    assert (codes.reads, codes.writes) == (1, 2)  # the claim looked up, the counter raised, the claim written
    # When the step is retried, and when the client's name (so its series) changed since
    again = codes.code_for("opportunity_1", "PRJ-HARB")
    renamed = codes.code_for("opportunity_1", "PRJ-NEWNAME")
    # Then the deal keeps its code, and nothing more was written
    assert again == renamed == first
    assert (codes.reads, codes.writes) == (3, 2)
    # And the next deal is not given the retried deal's number
    assert codes.code_for("opportunity_2", "PRJ-HARB") == "PRJ-HARB-0002"


@pytest.mark.usefixtures("atomic_items")
def test_many_deals_allocated_concurrently_with_duplicate_executions_never_share_a_code(
    stores: Stores,
) -> None:
    # Given 60 deals of 4 clients (two of which share a series), each provisioned by three
    # executions at once (a retry racing the first attempt, a second execution by hand)
    clients = ["Harbourline Logistics", "Harbourline Logistics Inc.", "Acme Consulting", "Initech"]
    deals = [(f"opportunity_{n}", code_series(clients[n % len(clients)])) for n in range(60)]
    # (a deal's three attempts are adjacent, so different workers run them at the same time)
    attempts = [deal for deal in deals for _ in range(3)]

    def allocate(deal: tuple[str, str]) -> tuple[str, str]:
        codes = allocator(stores)  # one client per thread, as separate Lambda invocations have
        return deal[0], codes.code_for(*deal)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(allocate, attempts))
    # Then every execution of one deal got the same code ...
    by_deal: dict[str, set[str]] = {}
    for opportunity, code in results:
        by_deal.setdefault(opportunity, set()).add(code)
    assert all(len(codes) == 1 for codes in by_deal.values()), by_deal
    # ... no two deals share one, and every code is one the ERP accepts
    codes = [next(iter(c)) for c in by_deal.values()]
    assert len(set(codes)) == len(deals) == 60
    assert all(ERP_CODE_PATTERN.fullmatch(code) for code in codes)
    # ... and each deal's code is in its client's series
    assert all(
        by_deal[opportunity] == {f"{series}-{code[-4:]}"}
        for (opportunity, series), code in zip(deals, codes, strict=True)
    )


def test_an_exhausted_series_fails_without_reusing_a_number(stores: Stores) -> None:
    codes = allocator(stores, digits=1)
    issued = [codes.code_for(f"opportunity_{n}", "PRJ-TINY") for n in range(9)]
    assert issued == [f"PRJ-TINY-{n}" for n in range(1, 10)]
    with pytest.raises(SeriesExhausted, match="PRJ-TINY"):
        codes.code_for("opportunity_9", "PRJ-TINY")
    # A deal that already has its code still gets it; another series is unaffected
    assert codes.code_for("opportunity_3", "PRJ-TINY") == "PRJ-TINY-4"
    assert codes.code_for("opportunity_9", "PRJ-OTHER") == "PRJ-OTHER-1"


# -- through the workflow's step --------------------------------------------------------------
def steps(stores: Stores, codes: ProjectCodeAllocator) -> ProvisioningSteps:
    return ProvisioningSteps(
        connections={},
        connector_for=lambda connection, role: pytest.fail(f"ValidateTerms called the {role} {connection}"),
        identity=stores.identity,
        exceptions=stores.exceptions,
        config=load_provisioning_config((REPO_ROOT / "infra/config/provisioning.json").read_text()),
        codes=codes,
    )


def deal_state(opportunity_id: str, details: OpportunityDetails | None = None) -> dict[str, Any]:
    details = details or seed.hubspot_deals("hubspot-acme")[0]
    return {
        "deal": {
            "details": details.model_dump(mode="json"),
            "opportunity_id": opportunity_id,
            "client_id": "client_harbourline",
            "crm_connection": "hubspot-acme",
        }
    }


def test_validate_terms_gives_a_retried_deal_its_code_and_the_next_deal_the_next(stores: Stores) -> None:
    subject = steps(stores, allocator(stores))
    first = subject.validate_terms(deal_state("opportunity_won"))["project"]["code"]
    # The step retried, and a second execution of the same deal
    again = steps(stores, allocator(stores)).validate_terms(deal_state("opportunity_won"))["project"]["code"]
    # Another deal of the same client
    other = subject.validate_terms(deal_state("opportunity_other"))["project"]["code"]
    assert first == again == "PRJ-HARBLOGI-0001"
    assert other == "PRJ-HARBLOGI-0002"


def test_validate_terms_parks_an_exhausted_series_for_integration_support(stores: Stores) -> None:
    codes = allocator(stores, digits=1)
    for n in range(9):
        codes.code_for(f"opportunity_{n}", "PRJ-HARBLOGI")
    with pytest.raises(StepFailed, match="PRJ-HARBLOGI") as failed:
        steps(stores, codes).validate_terms(deal_state("opportunity_won"))
    assert failed.value.owner_team.value == "integration_support"
