"""Where an operator command works: a deployed stack, or the local runtime of ``pshub serve``.

Both are read the same way: the stack's outputs (``pshub_infra.outputs``) name every queue,
table and state machine, and a client is built for the stack's region and endpoint. A
deployed stack uses the default AWS credentials (``--profile``, ``--region``); ``--local``
points at the AWS endpoint ``pshub serve`` opens on 127.0.0.1, which holds a stack of the
same name with the same outputs. Only the endpoint differs.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pshub_infra.outputs import Kind, output_key

if TYPE_CHECKING:
    import boto3

DEFAULT_STACK = "pshub"
DEFAULT_LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_REGION = "us-east-1"


class TargetError(Exception):
    """The stack or a resource cannot be found; the message says what to pass instead."""


@dataclass
class Target:
    stack: str = DEFAULT_STACK
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    local: bool = False
    # Explicit names that win over the stack's outputs (``--table`` ...): output key -> value.
    overrides: dict[str, str] = field(default_factory=dict)
    _session: Any = field(default=None, repr=False)
    _outputs: dict[str, str] | None = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def for_local(cls, endpoint_url: str = DEFAULT_LOCAL_ENDPOINT, stack: str = DEFAULT_STACK) -> Target:
        return cls(stack=stack, region=LOCAL_REGION, endpoint_url=endpoint_url, local=True)

    @classmethod
    def with_outputs(cls, outputs: dict[str, str], **options: Any) -> Target:
        """A target whose outputs are known already (tests on moto, a stack read before)."""
        target = cls(**options)
        target._outputs = dict(outputs)
        return target

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            import boto3

            if self.local:
                # moto accepts any credentials; these keep a real profile from being read.
                self._session = boto3.Session(
                    aws_access_key_id="local",
                    aws_secret_access_key="local",  # noqa: S106 - moto's, not a secret
                    region_name=self.region,
                )
            else:
                self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
        return cast("boto3.Session", self._session)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
        return self._clients[service]

    @property
    def region_name(self) -> str:
        return str(self.session.region_name or LOCAL_REGION)

    def outputs(self) -> dict[str, str]:
        if self._outputs is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
            except ClientError as error:
                raise TargetError(
                    f"stack {self.stack} not found in {self.region_name}: {error.response['Error'].get('Message', error)}"
                    + (
                        "; is `pshub serve` running?"
                        if self.local
                        else "; pass --stack, --region or --profile"
                    )
                ) from None
            except BotoCoreError as error:
                hint = "; is `pshub serve` running?" if self.local else ""
                raise TargetError(f"cannot reach {self.endpoint_url or 'AWS'}: {error}{hint}") from None
            self._outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        return self._outputs

    def output(self, name: str, hint: str = "") -> str:
        if name in self.overrides:
            return self.overrides[name]
        outputs = self.outputs()
        if name not in outputs:
            raise TargetError(f"stack {self.stack} has no output {name}{'; ' + hint if hint else ''}")
        return outputs[name]

    def resource(self, kind: Kind, key: str) -> str:
        """A topology resource by key: the queue's URL, the table's or bucket's name, the ARN."""
        if kind == "queue" and os.environ.get(f"PSHUB_QUEUE_{key.upper()}"):
            return os.environ[f"PSHUB_QUEUE_{key.upper()}"]
        return self.output(output_key(kind, key), f"set PSHUB_QUEUE_{key.upper()}" if kind == "queue" else "")

    def actor(self) -> str:
        """Who is acting, for the audit trail: the caller's IAM identity, or ``local:<user>``."""
        if self.local:
            return f"local:{getpass.getuser()}"
        from pshub.store.audit import caller_identity

        return caller_identity(self.client("sts"))

    def console_url(self, kind: str, value: str) -> str | None:
        """The AWS console page of an execution, a queue or a table (deployed stacks only)."""
        if self.local or self.endpoint_url:
            return None
        base = f"https://{self.region_name}.console.aws.amazon.com"
        if kind == "execution":
            return f"{base}/states/home?region={self.region_name}#/v2/executions/details/{value}"
        if kind == "queue":
            from urllib.parse import quote

            return f"{base}/sqs/v3/home?region={self.region_name}#/queues/{quote(value, safe='')}"
        if kind == "table":
            return f"{base}/dynamodbv2/home?region={self.region_name}#table?name={value}"
        return None
