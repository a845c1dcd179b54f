"""The local HTTP API builds the payload-format-2.0 event API Gateway would."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from pshub_infra.topology import PIPELINE, HttpRouteSpec
from pshub_local import apigw

ROUTE = HttpRouteSpec(method="POST", path="/webhooks/{connection}", function="ingress")
NOW = 1_795_190_000.123


def build(
    *,
    raw_path: str = "/webhooks/hubspot-acme",
    raw_query: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b'{"a": 1}',
) -> dict:
    matched = apigw.match_route([ROUTE], "POST", raw_path)
    assert matched is not None
    route, params = matched
    return apigw.build_event(
        route=route,
        path_parameters=params,
        method="POST",
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers
        if headers is not None
        else [("Host", "127.0.0.1:8080"), ("Content-Type", "application/json")],
        body=body,
        source_ip="127.0.0.1",
        server_port=8080,
        now=NOW,
    )


def test_event_has_the_v2_shape_and_parses_with_powertools_models() -> None:
    event = build(
        headers=[("Host", "127.0.0.1:8080"), ("Content-Type", "application/json"), ("User-Agent", "ua/1")]
    )

    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhooks/{connection}"
    assert event["rawPath"] == "/webhooks/hubspot-acme"
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert event["pathParameters"] == {"connection": "hubspot-acme"}
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["domainName"] == "127.0.0.1:8080"
    assert context["stage"] == "$default"
    assert context["routeKey"] == event["routeKey"]
    assert context["http"] == {
        "method": "POST",
        "path": "/webhooks/hubspot-acme",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "ua/1",
    }
    assert uuid.UUID(context["requestId"])
    assert context["timeEpoch"] == 1_795_190_000_123
    assert context["time"] == time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(NOW))
    # Powertools' own model of the event accepts it, as it does API Gateway's
    model = APIGatewayProxyEventV2Model.model_validate(event)
    assert model.requestContext.http.method == "POST"
    assert model.pathParameters == {"connection": "hubspot-acme"}
    assert APIGatewayProxyEventV2(event).path_parameters == {"connection": "hubspot-acme"}


def test_headers_are_lower_cased_repeats_comma_joined_and_forwarding_added() -> None:
    event = build(
        headers=[
            ("Host", "127.0.0.1:8080"),
            ("Content-Type", "application/json"),
            ("X-Thing", "a"),
            ("x-thing", "b"),
            ("Cookie", "s=1; t=2"),
        ]
    )
    headers = event["headers"]
    assert headers["x-thing"] == "a,b"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-port"] == "8080"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert all(name == name.lower() for name in headers)
    assert "cookie" not in headers
    assert event["cookies"] == ["s=1", "t=2"]


def test_query_string_is_passed_raw_and_parsed_like_api_gateway() -> None:
    event = build(raw_query="token=a%2Fb%3D&x=1&x=2&empty=")
    assert event["rawQueryString"] == "token=a%2Fb%3D&x=1&x=2&empty="
    assert event["queryStringParameters"] == {"token": "a/b=", "x": "1,2", "empty": ""}


def test_every_request_gets_its_own_request_id() -> None:
    assert build()["requestContext"]["requestId"] != build()["requestContext"]["requestId"]


@pytest.mark.parametrize(
    ("content_type", "textual"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/xml; charset=utf-8", True),
        ("text/plain", True),
        ("application/xml", True),
        ("application/soap+xml; charset=UTF-8", True),
        ("application/vnd.api+json", True),
        ("text/xml; charset=iso-8859-1", False),
        ("application/octet-stream", False),
        ("application/x-www-form-urlencoded", False),
        (None, False),
    ],
)
def test_which_content_types_travel_as_text(content_type: str | None, textual: bool) -> None:
    assert apigw.is_textual(content_type) is textual


def test_binary_bodies_are_base64_encoded() -> None:
    body = bytes(range(256))
    event = build(headers=[("Host", "h"), ("Content-Type", "application/octet-stream")], body=body)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_textual_type_with_invalid_utf8_falls_back_to_base64() -> None:
    event = build(headers=[("Host", "h"), ("Content-Type", "application/json")], body=b"\xff\xfe")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_ingress_rebuilds_the_url_the_platform_called() -> None:
    # Imported here: pshub.pipeline.ingress creates Powertools objects that read the environment
    # at import, which must not happen at collection, before any runtime set it.
    from pshub.pipeline.ingress import request_from_http_api

    # HubSpot signs the URL it called: the event must let the ingress rebuild it exactly.
    event = build(raw_query="a=%3A1&b=2")
    request = request_from_http_api(event, NOW)
    assert request.url == "http://127.0.0.1:8080/webhooks/hubspot-acme?a=%3A1&b=2"
    assert request.body == b'{"a": 1}'
    assert request.request_id == event["requestContext"]["requestId"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webhooks/stripe-acme"),
        ("POST", "/webhooks/"),
        ("POST", "/webhooks/a/b"),
        ("POST", "/webhooks"),
        ("POST", "/other"),
    ],
)
def test_unrouted_requests_do_not_match(method: str, path: str) -> None:
    assert apigw.match_route(PIPELINE.routes, method, path) is None


def test_path_parameters_are_decoded() -> None:
    matched = apigw.match_route(PIPELINE.routes, "post", "/webhooks/stripe%2Dacme")
    assert matched is not None
    assert matched[1] == {"connection": "stripe-acme"}


def test_function_result_becomes_the_http_response() -> None:
    result = apigw.to_http_result(
        {"statusCode": 401, "headers": {"Content-Type": "application/json"}, "body": '{"error": {}}'}, "rid"
    )
    assert (result.status, result.body) == (401, b'{"error": {}}')
    assert result.headers == {"apigw-requestid": "rid", "content-type": "application/json"}

    binary = apigw.to_http_result(
        {"statusCode": 200, "body": base64.b64encode(b"\x00").decode(), "isBase64Encoded": True}, "r"
    )
    assert binary.body == b"\x00"


def test_result_without_status_code_is_a_json_200() -> None:
    result = apigw.to_http_result({"hello": "world"}, "rid")
    assert result.status == 200
    assert json.loads(result.body) == {"hello": "world"}
    assert result.headers["content-type"] == "application/json"


def test_api_gateway_errors_have_its_message_shape() -> None:
    result = apigw.error_result(404, "Not Found")
    assert (result.status, json.loads(result.body)) == (404, {"message": "Not Found"})
