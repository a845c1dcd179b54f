"""``pshub config``: the stack's configuration (the connection registry, the ownership policy,
provisioning and billing settings) as the functions read it, from SSM Parameter Store, and an
audited change to it.

A change is checked by the loader the functions use before anything is written, then the
parameter is overwritten and the audit trail gets who, which configuration, the note, and the
text's digest before and after with the changed lines (values of sensitive fields masked).
Functions read the text at a cold start and keep it for ``CONFIG_CACHE_S``: a change reaches
every function within that once its instances are recycled (a deploy, or an idle period). The
repository's file stays the source: the next ``cdk deploy`` writes it again, so commit the
change as well.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pshub.settings import config_value, pack_config
from pshub_infra.topology import (
    CONNECTIONS_VARIABLE,
    PIPELINE,
    config_files,
    config_key,
    config_parameter_name,
)
from pshub_local.ops.render import mask_text
from pshub_local.ops.target import Target, TargetError

MAX_DIFF_LINES = 80


def _loaders() -> dict[str, Callable[[str], Any]]:
    from pshub.connections import load_registry
    from pshub.sync.ownership import load_policy
    from pshub.workflows.billing.config import load_billing_config
    from pshub.workflows.provisioning.config import load_provisioning_config

    return {
        CONNECTIONS_VARIABLE: load_registry,
        "PSHUB_OWNERSHIP_POLICY": load_policy,
        "PSHUB_PROVISIONING": load_provisioning_config,
        "PSHUB_BILLING": load_billing_config,
    }


def variables() -> dict[str, str]:
    """Each configuration's key (``ownership-policy``) -> its variable."""
    found = [CONNECTIONS_VARIABLE, *config_files(PIPELINE)]
    return {config_key(v): v for v in found}


def variable_of(key: str) -> str:
    known = variables()
    if key not in known:
        raise TargetError(f"no configuration {key!r}; known: {', '.join(sorted(known))}")
    return known[key]


def parameter_name(target: Target, variable: str) -> str:
    stage = target.output("Stage")
    return config_parameter_name(variable, "" if stage == "-" else stage)


def read(target: Target, key: str) -> str:
    """The configuration's text as the functions read it (unpacked)."""
    name = parameter_name(target, variable_of(key))
    ssm = target.client("ssm")
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise TargetError(f"stack {target.stack} has no parameter {name}") from None
    return config_value(value)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ConfigChange:
    key: str
    parameter: str
    before: str  # digest
    after: str
    diff: list[str]  # unified diff, sensitive values masked
    applied: bool

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def to_doc(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "parameter": self.parameter,
            "before": self.before,
            "after": self.after,
            "changed": self.changed,
            "applied": self.applied,
            "diff": self.diff,
        }


def change(target: Target, key: str, text: str, note: str, *, dry_run: bool = False) -> ConfigChange:
    """Check ``text`` with the functions' own loader, then (unless ``dry_run``) write it and
    record the change on the audit trail. ``ValueError`` names what the loader refused."""
    variable = variable_of(key)
    try:
        _loaders()[variable](text)
    except Exception as error:  # the loader's own message: what a function would have refused
        raise ValueError(f"{key}: {error}") from None
    name = parameter_name(target, variable)
    current = read(target, key)
    diff = [
        mask_text(line.rstrip("\n"))
        for line in difflib.unified_diff(
            current.splitlines(), text.splitlines(), "before", "after", lineterm="", n=1
        )
    ][:MAX_DIFF_LINES]
    result = ConfigChange(key, name, digest(current), digest(text), diff, applied=False)
    if dry_run or not result.changed:
        return result
    packed = pack_config(text)
    if len(packed.encode()) > 4096:
        raise ValueError(f"{key}: {len(packed.encode())} bytes packed, over SSM's 4096 for a parameter")
    target.client("ssm").put_parameter(Name=name, Value=packed, Type="String", Overwrite=True)
    from pshub.store.audit import AuditLog

    AuditLog(target.client("dynamodb"), target.resource("table", "audit")).record(
        f"config#{key}",
        "config.set",
        target.actor(),
        note=note or None,
        before={"sha256": result.before},
        after={"sha256": result.after, "parameter": name, "diff": diff},
    )
    return ConfigChange(key, name, result.before, result.after, diff, applied=True)
