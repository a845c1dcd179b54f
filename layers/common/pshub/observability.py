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
from typing import Any

from aws_lambda_powertools import Logger, Metrics

SERVICE = "pshub"

# An invocation that records no metric (a redelivered duplicate, a workflow step that
# counts nothing) is normal here, not worth a warning line in every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# Explicit, not from POWERTOOLS_* at import: the local runtime and the tests import
# pshub before any function's environment exists, and the values are the same.
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)


def bind_invocation(context: Any, correlation_id: str, cold_start: bool) -> None:
    """What Powertools' ``inject_lambda_context(clear_state=True)`` sets, for the moment a line is logged.

    The ingress logs only when a webhook is refused (or at DEBUG): binding the Lambda
    context on every request would cost the ack path ~10 us for lines never written.
    """
    from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

    logger.structure_logs(cold_start=cold_start, **build_lambda_context_model(context).__dict__)
    logger.set_correlation_id(correlation_id)
