"""Logger and metrics, created once for every function (Powertools).

Every log line carries the correlation id of the webhook that caused it: the
ingress sets it from the API Gateway request id, the normaliser from the raw
delivery it is working on, and canonical events carry it onward.

The Powertools Tracer lives in ``pshub.tracing``: importing the X-Ray SDK costs
~115 ms, which the ingress (on the webhook's critical path, traced by Lambda's
active tracing anyway) does not pay.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

SERVICE = "pshub"

# An invocation that records no metric (a redelivered duplicate, a workflow step that
# counts nothing) is normal here, not worth a warning line in every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# Explicit, not from POWERTOOLS_* at import: the local runtime and the tests import
# pshub before any function's environment exists, and the values are the same.
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)
