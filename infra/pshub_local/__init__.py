"""pshub's embedded local runtime: the CDK topology on moto, our handlers in-process.

``LocalRuntime`` (``pshub_local.runtime``) is the AWS side; ``WebhookServer``
(``pshub_local.server``) is the HTTP API on 127.0.0.1; ``pshub_local.vendors``
signs webhooks as the platforms do; ``pshub`` (``pshub_local.cli``) drives them.
"""

from pshub_local.runtime import LocalRuntime, QueueMessage
from pshub_local.server import WebhookServer

__all__ = ["LocalRuntime", "QueueMessage", "WebhookServer"]
