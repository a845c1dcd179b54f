"""A function's environment is read once, and a wrong one is named precisely."""

from __future__ import annotations

import pytest

from pshub.settings import IngressSettings, SettingsError, StarterSettings, read_settings

INGRESS_ENV = {
    "RAW_DELIVERY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/pshub-raw-deliveries",
    "UNMAPPABLE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/pshub-unmappable",
    "CLAIM_CHECK_BUCKET": "pshub-claim-checks",
    "PSHUB_CONNECTIONS": "{}",
    "MAX_BODY_BYTES": "5242880",
    "CLAIM_CHECK_THRESHOLD_BYTES": "262144",
}


def test_settings_are_read_from_upper_cased_variables_with_integers_converted() -> None:
    settings = read_settings(IngressSettings, INGRESS_ENV)
    assert settings.claim_check_bucket == "pshub-claim-checks"
    assert settings.max_body_bytes == 5 * 1024 * 1024
    assert settings.claim_check_threshold_bytes == 256 * 1024


def test_every_missing_variable_is_named_at_once() -> None:
    env = {k: v for k, v in INGRESS_ENV.items() if k not in {"CLAIM_CHECK_BUCKET", "MAX_BODY_BYTES"}}
    with pytest.raises(SettingsError, match="IngressSettings: environment variable\\(s\\) not set: "
                       "CLAIM_CHECK_BUCKET, MAX_BODY_BYTES"):  # fmt: skip
        read_settings(IngressSettings, env)


def test_a_number_that_is_not_one_is_named_with_its_value() -> None:
    with pytest.raises(SettingsError, match="MAX_BODY_BYTES='5MB' is not an integer"):
        read_settings(IngressSettings, {**INGRESS_ENV, "MAX_BODY_BYTES": "5MB"})


def test_unrelated_variables_are_ignored() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:pshub-provision-project"
    env = {"PROVISIONING_STATE_MACHINE_ARN": arn, "INBOX_TABLE": "pshub-idempotency", "OTHER": "x"}
    settings = read_settings(StarterSettings, env)
    assert settings == StarterSettings(provisioning_state_machine_arn=arn, inbox_table="pshub-idempotency")
