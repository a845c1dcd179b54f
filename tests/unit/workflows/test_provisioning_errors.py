"""How a step's failure reaches the state machine: by the error's name, with what it needs."""

from __future__ import annotations

import json

import pytest

from pshub.connectors.errors import PermanentConnectorError, RateLimited, TransientConnectorError
from pshub.errors import PermanentError, TransientError
from pshub.workflows.provisioning.errors import Throttled, as_workflow_error
from pshub_infra.topology import REPO_ROOT


def _limited(seconds: float) -> RateLimited:
    return RateLimited(
        "throttled",
        retry_after_s=seconds,
        platform="netsuite",
        connection_id="netsuite-acme",
        operation="create_job",
    )


@pytest.mark.parametrize(("asked", "waited"), [(120.0, 120), (20.2, 21), (0.0, 1), (3 * 86_400.0, 86_400)])
def test_a_throttle_names_its_step_and_the_whole_seconds_to_wait(asked: float, waited: int) -> None:
    error = as_workflow_error("create_erp_project", _limited(asked))
    assert type(error).__name__ == "Throttled"
    assert json.loads(str(error)) == {"step": "CreateErpProject", "retry_after_s": waited}


def test_every_step_a_throttle_names_is_a_state_the_state_machine_resumes() -> None:
    definition = json.loads((REPO_ROOT / "infra/statemachines/provision_project.asl.json").read_text())
    states = definition["States"]
    resumable = {c["StringEquals"]: c["Next"] for c in states["ResumeThrottledStep"]["Choices"]}
    for op, name in [
        ("load_deal", "LoadDeal"),
        ("upsert_erp_client", "UpsertErpClient"),
        ("create_erp_project", "CreateErpProject"),
        ("create_psa_project", "CreatePsaProject"),
        ("push_rate_card", "PushRateCard"),
        ("set_up_billing", "SetUpBilling"),
    ]:
        step = json.loads(str(as_workflow_error(op, _limited(5))))["step"]
        assert step == name and resumable[step] == name
        assert states[name]["Catch"][0] == {
            "ErrorEquals": ["Throttled"],
            "ResultPath": "$.throttle",
            "Next": "ReadRetryAfter",
        }
        assert states[name]["Parameters"]["op"] == op


def test_other_failures_keep_their_paths() -> None:
    transient = TransientConnectorError("503", platform="p", connection_id="c", operation="o")
    permanent = PermanentConnectorError("refused", platform="p", connection_id="c", operation="o")
    assert type(as_workflow_error("create_erp_project", transient)) is TransientError
    assert type(as_workflow_error("create_erp_project", permanent)) is PermanentError
    # A throttle in a step that calls no platform is transient as before
    assert type(as_workflow_error("record_activation", _limited(5))) is TransientError
    assert not isinstance(as_workflow_error("create_erp_project", _limited(5)), TransientError)
    assert Throttled.__name__ == "Throttled"  # the name the ASL's Catch matches
