"""Business KPIs as EMF lines, and the backlog gauges the operations tick writes.

The expectations are the business facts seeded (two finance exceptions, one in euros, one in
dollars; hours on a posting refusal), not figures read back from the code under test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pshub.business_exceptions import BusinessException, Category, OwnerTeam
from pshub.gauges import exception_readings
from pshub.kpis import BACKLOG_AGE_LIMIT_S, PROJECT_ACTIVATION, WEBHOOK_REJECTED, poll_coverage_limit_s
from tests.helpers import emitted_metrics

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def exception(owner: OwnerTeam, hours_ago: float, **impact: str) -> BusinessException:
    return BusinessException(
        id=f"x-{owner}-{hours_ago}",
        category=Category.POSTING_REJECTED,
        owner_team=owner,
        title="Approved time refused by the ERP",
        detail="period closed",
        raised_at=NOW - timedelta(hours=hours_ago),
        **impact,
    )


def test_a_kpi_line_carries_its_own_dimensions_and_the_stage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSHUB_STAGE", "prod")
    WEBHOOK_REJECTED.emit(1, connection="stripe-acme", reason="signature_invalid")
    PROJECT_ACTIVATION.emit(42.5)
    output = capsys.readouterr().out
    assert emitted_metrics(output, "WebhookRejected") == [
        (
            1.0,
            {"connection": "stripe-acme", "reason": "signature_invalid", "service": "pshub", "stage": "prod"},
        )
    ]
    # A KPI without dimensions of its own is filed under the service and stage only
    assert emitted_metrics(output, "ProjectActivationSeconds") == [
        (42.5, {"service": "pshub", "stage": "prod"})
    ]
    [activation] = [json.loads(line) for line in output.splitlines() if "ProjectActivationSeconds" in line]
    assert activation["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "ProjectActivationSeconds", "Unit": "Seconds"}
    ]


def test_a_kpi_refuses_dimensions_it_does_not_declare() -> None:
    with pytest.raises(ValueError, match="connection"):
        WEBHOOK_REJECTED.emit(1, reason="signature_invalid")
    with pytest.raises(ValueError):
        PROJECT_ACTIVATION.emit(1, owner="pmo")


def test_backlog_gauges_per_owner_team_keep_currencies_apart_and_report_quiet_teams_as_zero() -> None:
    open_exceptions = [
        exception(OwnerTeam.FINANCE_OPS, 30, amount_at_risk="1200.00 EUR", hours_at_risk="7.5"),
        exception(OwnerTeam.FINANCE_OPS, 2, amount_at_risk="300.50 USD", hours_at_risk="2.25"),
        exception(OwnerTeam.FINANCE_OPS, 1, amount_at_risk="99.50 EUR"),
        exception(OwnerTeam.PMO, 0.5, hours_at_risk="not a number"),  # unknown hours, not zero-plus-junk
    ]
    readings = {
        (r.kpi.name, *sorted(r.dimensions.values())): r.value
        for r in exception_readings(open_exceptions, NOW)
    }
    assert readings[("OpenExceptions", "finance_ops")] == 3
    assert readings[("OldestOpenExceptionAgeSeconds", "finance_ops")] == 30 * 3600
    assert readings[("HoursAtRisk", "finance_ops")] == 9.75
    assert readings[("AmountAtRisk", "EUR", "finance_ops")] == 1299.50
    assert readings[("AmountAtRisk", "USD", "finance_ops")] == 300.50
    assert readings[("OpenExceptions", "pmo")] == 1 and readings[("HoursAtRisk", "pmo")] == 0
    # Every team reads every time: a team with nothing open is 0, so its alarm returns to OK
    for team in ("sales_ops", "integration_support", "data_steward"):
        assert readings[("OpenExceptions", team)] == 0
        assert readings[("OldestOpenExceptionAgeSeconds", team)] == 0
    assert not any(key[0] == "AmountAtRisk" and key[-1] == "pmo" for key in readings)


def test_every_owner_team_has_a_backlog_limit_and_feeds_alarm_at_half_their_horizon() -> None:
    assert set(BACKLOG_AGE_LIMIT_S) == {team.value for team in OwnerTeam}
    assert poll_coverage_limit_s(9) == 4.5 * 86400  # an events feed kept nine days
    assert poll_coverage_limit_s(None) == 86400  # a query by modification time: a day unread
