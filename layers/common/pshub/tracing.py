"""The Powertools Tracer, for functions off the webhook's critical path."""

from __future__ import annotations

from aws_lambda_powertools import Tracer

tracer = Tracer()
