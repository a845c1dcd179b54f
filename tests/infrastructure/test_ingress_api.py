"""HTTP API: the webhook routes, Lambda proxy v2, throttled, access-logged as JSON."""

from __future__ import annotations

import json

import pytest

from pshub_infra.constants import API_THROTTLE_BURST_LIMIT, API_THROTTLE_RATE_LIMIT
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE, HttpRouteSpec

from .support import Synth, get_att, ref

REQUIRED_ACCESS_LOG_FIELDS = {"requestId", "ip", "routeKey", "status", "responseLength", "integrationError"}


def test_webhook_route_key(synth: Synth) -> None:
    # Given the API routes
    route_keys = sorted(
        r["Properties"]["RouteKey"] for r in synth.resources("AWS::ApiGatewayV2::Route").values()
    )
    # Then vendors post to /webhooks/{connection}, and nothing else is routed
    assert route_keys == ["POST /webhooks/{connection}"]
    assert route_keys == sorted(f"{r.method} {r.path}" for r in PIPELINE.routes)


@pytest.mark.parametrize("route", PIPELINE.routes, ids=lambda r: f"{r.method} {r.path}")
def test_route_invokes_its_function_with_payload_v2(synth: Synth, route: HttpRouteSpec) -> None:
    # Given a topology route
    function_id = synth.logical_id(f"Functions/{pascal_id(route.function)}/Function/Resource")
    (route_props,) = [
        r["Properties"]
        for r in synth.resources("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == f"{route.method} {route.path}"
    ]
    integration_id = route_props["Target"]["Fn::Join"][1][1]["Ref"]
    integration = synth.template["Resources"][integration_id]["Properties"]
    # Then it proxies to the declared function with the v2 event
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == get_att(function_id)
    assert integration["PayloadFormatVersion"] == "2.0"
    # And authentication is the function's signature check, acknowledged in cdk-nag (APIG4)
    assert route_props["AuthorizationType"] == "NONE"
    # And only this API may invoke the function
    permissions = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == get_att(function_id)
    ]
    assert [p["Principal"] for p in permissions] == ["apigateway.amazonaws.com"]
    assert ref(synth.logical_id("Ingress/HttpApi/Resource")) in permissions[0]["SourceArn"]["Fn::Join"][1]


def test_default_stage_is_throttled_and_access_logged(synth: Synth) -> None:
    # Given the API's only stage
    (stage,) = [s["Properties"] for s in synth.resources("AWS::ApiGatewayV2::Stage").values()]
    # Then it auto-deploys as $default and caps the request rate
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": API_THROTTLE_BURST_LIMIT,
        "ThrottlingRateLimit": API_THROTTLE_RATE_LIMIT,
    }
    # And it writes one JSON object per request to its log group
    assert stage["AccessLogSettings"]["DestinationArn"] == get_att(
        synth.logical_id("Ingress/AccessLogs/Resource")
    )
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert set(fields) >= REQUIRED_ACCESS_LOG_FIELDS
    assert all(value.startswith("$context.") for value in fields.values())
    assert synth.props("Ingress/AccessLogs/Resource")["RetentionInDays"] > 0


def test_endpoint_url_is_an_output(synth: Synth) -> None:
    # Given the stack outputs
    output = synth.template["Outputs"]["WebhookEndpoint"]["Value"]
    # Then the endpoint is the API's execute-api URL
    assert output["Fn::Join"][1][0] == "https://"
    assert ref(synth.logical_id("Ingress/HttpApi/Resource")) in output["Fn::Join"][1]
