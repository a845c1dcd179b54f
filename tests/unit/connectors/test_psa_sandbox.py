"""The PSA sandbox behaves like Kantata / Certinia: templates, currencies, whole rate cards."""

from __future__ import annotations

import re

import pytest

from pshub.connectors.errors import Conflict, NotFound, PermanentConnectorError
from pshub.connectors.sandbox.psa import SandboxPsa
from tests.unit.connectors.builders import connection, project, rate_card

TEMPLATES = "consulting=TPL-CONSULT,managed_services=TPL-MSP"


def kantata(platform: str = "kantata") -> SandboxPsa:
    return SandboxPsa(connection(platform, "psa", "kantata-acme", templates=TEMPLATES))


def test_templates_come_from_the_connection_by_service_line() -> None:
    psa = kantata()
    assert psa.template_for("consulting") == "TPL-CONSULT"
    assert psa.template_for("advisory") is None


def test_create_from_template_is_idempotent_on_the_project_code() -> None:
    psa = kantata()
    first = psa.create_project_from_template(project(), "TPL-CONSULT")
    assert psa.create_project_from_template(project(), "TPL-CONSULT") == first
    assert first.isdigit()  # Kantata workspace ids are numeric
    record = psa.get_project("PRJ-HARB-0001")
    assert record is not None and record.currency == "USD" and record.template == "TPL-CONSULT"
    assert len(psa.snapshot()["records"]["projects"]) == 1


def test_the_same_code_from_another_template_is_a_conflict() -> None:
    psa = kantata()
    psa.create_project_from_template(project(), "TPL-CONSULT")
    with pytest.raises(Conflict) as caught:
        psa.create_project_from_template(project(), "TPL-MSP")
    assert caught.value.fields == ("template",) and "PRJ-HARB-0001" in str(caught.value)


def test_an_unknown_template_is_rejected() -> None:
    with pytest.raises(PermanentConnectorError, match=r"TPL-NOPE.*known: TPL-CONSULT, TPL-MSP"):
        kantata().create_project_from_template(project(), "TPL-NOPE")


def test_rate_card_push_replaces_the_whole_card() -> None:
    psa = kantata()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.push_rate_card(native_id, rate_card(Consultant="185.00", Analyst="125.00"))
    psa.push_rate_card(native_id, rate_card(Partner="425.00"))
    psa.push_rate_card(native_id, rate_card(Partner="425.00"))
    record = psa.get_project("PRJ-HARB-0001")
    assert record is not None and record.rate_card is not None
    assert [r.role for r in record.rate_card.rates] == ["Partner"]
    assert [c.outcome for c in psa.calls("push_rate_card")] == ["replaced", "replaced", "unchanged"]


def test_a_rate_card_must_be_in_the_project_currency() -> None:
    psa = kantata()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")  # budget in USD
    with pytest.raises(PermanentConnectorError, match="GBP; project PRJ-HARB-0001 bills in USD"):
        psa.push_rate_card(native_id, rate_card("GBP"))


def test_archive_compensates_and_blocks_rate_cards() -> None:
    psa = kantata()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.archive_project(native_id, "provisioning abandoned")
    psa.archive_project(native_id, "provisioning abandoned")
    assert [c.outcome for c in psa.calls("archive_project")] == ["archived", "already archived"]
    with pytest.raises(PermanentConnectorError, match="archived"):
        psa.push_rate_card(native_id, rate_card())
    with pytest.raises(NotFound) as caught:
        psa.archive_project("1", "cleanup")
    assert caught.value.platform_message == "Couldn't find workspace with id=1"


def test_certinia_projects_have_salesforce_ids() -> None:
    native_id = kantata("certinia").create_project_from_template(project(), "TPL-CONSULT")
    assert re.fullmatch(r"a2X5e00000[0-9A-Za-z]{5}[A-Z0-5]{3}", native_id)
