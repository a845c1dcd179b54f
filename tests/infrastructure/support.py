"""What the infrastructure tests share: the synthesized stack and lookups into it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (REPO_ROOT / "infra", REPO_ROOT / "layers" / "common"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

STACK_NAME = "pshub"
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass
class Synth:
    """The synthesized stack, with lookups by construct path (``pshub/Queues/RawDeliveries/Resource``)."""

    outdir: Path
    template: dict[str, Any]
    error: str | None
    report: dict[str, Any]
    _by_path: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for logical_id, resource in self.template["Resources"].items():
            path = resource.get("Metadata", {}).get("aws:cdk:path")
            if path:
                self._by_path[path] = logical_id

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.template["Resources"].items() if r["Type"] == type_}

    def logical_id(self, path: str) -> str:
        """Logical id of the resource at ``pshub/<path>``; fails with the known paths if absent."""
        full = f"{STACK_NAME}/{path}"
        if full not in self._by_path:
            raise KeyError(f"no resource at {full}; known: {sorted(self._by_path)}")
        return self._by_path[full]

    def resource(self, path: str) -> dict[str, Any]:
        resource: dict[str, Any] = self.template["Resources"][self.logical_id(path)]
        return resource

    def props(self, path: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resource(path)["Properties"]
        return props

    def path_of(self, logical_id: str) -> str:
        path: str = self.template["Resources"][logical_id]["Metadata"]["aws:cdk:path"]
        return path.removeprefix(f"{STACK_NAME}/")

    def policy_statements(self, role_path: str) -> list[dict[str, Any]]:
        """Statements of every inline policy attached to the role at ``role_path``."""
        role_id = self.logical_id(role_path)
        statements: list[dict[str, Any]] = []
        for policy in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def ref(logical_id: str) -> dict[str, Any]:
    return {"Ref": logical_id}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_allowing(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """Allow statements naming ``action`` exactly (wildcard actions are caught by cdk-nag's IAM5)."""
    return [s for s in statements if s["Effect"] == "Allow" and action in as_list(s["Action"])]
