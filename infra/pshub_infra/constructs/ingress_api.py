"""The public HTTP API the platforms post their webhooks to."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from pshub_infra.constants import (
    API_ACCESS_LOG_RETENTION,
    API_THROTTLE_BURST_LIMIT,
    API_THROTTLE_RATE_LIMIT,
)
from pshub_infra.constructs.acknowledgments import acknowledge
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import HttpRouteSpec

# One JSON object per request, so Logs Insights can filter by field.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
}


class IngressApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: Sequence[HttpRouteSpec],
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        # The default stage is built below: HttpApi's own cannot take access-log settings.
        self.api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="pshub webhook ingress: POST /webhooks/{connection}",
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=API_ACCESS_LOG_RETENTION)
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=API_THROTTLE_RATE_LIMIT, burst_limit=API_THROTTLE_BURST_LIMIT
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
            ),
        )
        for route in routes:
            handler = functions[route.function]
            self.api.add_routes(
                path=route.path,
                methods=[apigwv2.HttpMethod(route.method)],
                integration=integrations.HttpLambdaIntegration(
                    f"{pascal_id(route.function)}Integration",
                    handler,
                    payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
                ),
            )
        acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "Webhook senders (Stripe, HubSpot, Salesforce) cannot present IAM, JWT or Cognito "
            "credentials; each request is authenticated by the vendor's HMAC signature over the raw "
            "body, verified in the ingress function against the connection's secret before anything "
            "is enqueued.",
        )

    @property
    def url(self) -> str:
        url = self.stage.url
        assert url is not None
        return url


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, destination: apigwv2.IAccessLogDestination, format_: apigw.AccessLogFormat) -> None:
        self._destination = destination
        self._format = format_

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format
