"""Logger, metrics and tracer, created once for every function (Powertools).

Every log line carries the correlation id of the webhook that caused it: the
ingress sets it from the API Gateway request id, the normaliser from the raw
delivery it is working on, and canonical events carry it onward.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
