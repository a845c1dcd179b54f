"""The ownership policy: which system of record owns each attribute of each canonical object.

The policy is TOML (``infra/config/ownership.toml``, its header documents the format). An
update from a role that does not own an attribute is not propagated: ``split`` separates
what may propagate from what is an ownership conflict. ``active`` is the lifecycle point
of the commercial agreement the object belongs to (contract / project activated), for
attributes whose owner changes then (``owner_once_active``).

Errors in the policy raise ``PolicyError`` naming the source, the line and the entry.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pshub.connections import ROLES

SUPPORTED_VERSIONS = frozenset({1})
BOOKKEEPING = frozenset({"id", "external_ids", "source_version"})  # not business attributes
ALL = "*"
POLICY_ENV_VAR = "PSHUB_OWNERSHIP_POLICY"
# layers/common/pshub/sync/ownership.py -> the repository root; absent inside a deployed layer.
DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[4] / "infra" / "config" / "ownership.toml"

_RULE_KEYS = frozenset({"object", "attributes", "owner", "owner_once_active", "flows_to"})
_REQUIRED_RULE_KEYS = ("object", "attributes", "owner", "flows_to")


class PolicyError(ValueError):
    """The policy is malformed; the message is ``<source>, line <n>: <what>``."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Rule:
    object_type: str
    attributes: frozenset[str]  # {"*"} for the object's fallback rule
    owner: frozenset[str]
    owner_once_active: frozenset[str] | None
    flows_to: frozenset[str]
    line: int

    def owners(self, *, active: bool) -> frozenset[str]:
        return self.owner_once_active if active and self.owner_once_active is not None else self.owner


class OwnershipPolicy:
    def __init__(self, version: int, rules: Iterable[Rule], fields: Mapping[str, frozenset[str]]) -> None:
        self.version = version
        self.rules = tuple(rules)
        self._fields = fields
        explicit = {(r.object_type, a): r for r in self.rules for a in r.attributes if a != ALL}
        fallback = {r.object_type: r for r in self.rules if ALL in r.attributes}
        self._rule: dict[tuple[str, str], Rule] = {}
        for object_type, names in fields.items():
            for name in names:
                found = explicit.get((object_type, name)) or fallback.get(object_type)
                if found is not None:
                    self._rule[object_type, name] = found

    def knows(self, object_type: str, attribute: str) -> bool:
        """Whether ``attribute`` is a business attribute of the canonical object type."""
        return attribute in self._fields.get(object_type, frozenset())

    def rule_for(self, object_type: str, attribute: str) -> Rule | None:
        """The rule governing the attribute; None if the policy leaves it unowned."""
        names = self._fields.get(object_type)
        if names is None:
            raise ValueError(f"unknown canonical object type {object_type!r}")
        if attribute in BOOKKEEPING:
            raise ValueError(
                f"{object_type}.{attribute} is bookkeeping, not governed by the ownership policy"
            )
        if attribute not in names:
            raise ValueError(f"{object_type} has no attribute {attribute!r}")
        return self._rule.get((object_type, attribute))

    def owners(self, object_type: str, attribute: str, *, active: bool = False) -> frozenset[str]:
        """The roles that own the attribute (empty: nobody does, every change is a conflict)."""
        rule = self.rule_for(object_type, attribute)
        return rule.owners(active=active) if rule is not None else frozenset()

    def split(
        self, object_type: str, source_role: str, attributes: Iterable[str], *, active: bool = False
    ) -> tuple[set[str], set[str]]:
        """(attributes the source role owns: may propagate, the others: ownership conflicts).

        Bookkeeping attributes (id, external_ids, source_version) are in neither set.
        """
        owned: set[str] = set()
        conflicts: set[str] = set()
        for attribute in attributes:
            if attribute in BOOKKEEPING:
                continue
            owners = self.owners(object_type, attribute, active=active)
            (owned if source_role in owners else conflicts).add(attribute)
        return owned, conflicts

    def may_flow(self, object_type: str, attribute: str, to_role: str, *, active: bool = False) -> bool:
        """Whether the owner's changes of the attribute go to ``to_role`` (never to its sole owner)."""
        rule = self.rule_for(object_type, attribute)
        if rule is None:
            return False
        return to_role in rule.flows_to and rule.owners(active=active) != {to_role}

    def to_toml(self) -> str:
        """The policy as compact TOML, without comments: for an environment variable (4 KB in all)."""
        lines = [f"version = {self.version}"]
        for rule in self.rules:
            lines += ["[[rule]]", f"object = {json.dumps(rule.object_type)}"]
            lines.append(f"attributes = {_toml_list(rule.attributes)}")
            lines.append(f"owner = {_toml_list(rule.owner)}")
            if rule.owner_once_active is not None:
                lines.append(f"owner_once_active = {_toml_list(rule.owner_once_active)}")
            lines.append(f"flows_to = {_toml_list(rule.flows_to)}")
        return "\n".join(lines) + "\n"


def _toml_list(values: Iterable[str]) -> str:
    return json.dumps(sorted(values))


def load_policy(text: str, source: str = "ownership.toml") -> OwnershipPolicy:
    from pshub.settings import config_value

    text = config_value(text)  # as deployed, a large policy arrives packed
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, reason = _syntax_error(str(exc), text)
        raise PolicyError(source, line, f"invalid TOML: {reason}") from None
    return _Loader(text, source).load(data)


def load_default_policy(environ: Mapping[str, str] | None = None) -> OwnershipPolicy:
    """The deployed policy (``$PSHUB_OWNERSHIP_POLICY``), else the repository's file."""
    env = os.environ if environ is None else environ
    text = env.get(POLICY_ENV_VAR)
    if text:
        return load_policy(text, source=f"${POLICY_ENV_VAR}")
    if not DEFAULT_POLICY_PATH.is_file():
        raise PolicyError(POLICY_ENV_VAR, None, f"not set, and there is no {DEFAULT_POLICY_PATH}")
    return load_policy(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"), source="infra/config/ownership.toml")


@cache
def _object_fields() -> Mapping[str, frozenset[str]]:
    # Imported here: the models pull in pydantic, which `import pshub.sync.ownership` need not pay for.
    from pshub.canonical.model import OBJECT_TYPES

    return {
        name: frozenset(model.model_fields) - BOOKKEEPING for name, (_version, model) in OBJECT_TYPES.items()
    }


_SYNTAX_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_SYNTAX_AT_END = re.compile(r"\s*\(at end of document\)$")


def _syntax_error(message: str, text: str) -> tuple[int, str]:
    if match := _SYNTAX_AT.search(message):
        return int(match[1]), f"{message[: match.start()]} (column {match[2]})"
    if match := _SYNTAX_AT_END.search(message):
        return max(1, len(text.splitlines())), f"{message[: match.start()]} (at end of document)"
    return 1, message


class _Loader:
    def __init__(self, text: str, source: str) -> None:
        self._lines = _Lines(text)
        self._source = source
        self._fields = _object_fields()

    def error(self, line: int, reason: str) -> PolicyError:
        return PolicyError(self._source, line, reason)

    def load(self, data: dict[str, Any]) -> OwnershipPolicy:
        for key in data:
            if key not in ("version", "rule"):
                raise self.error(self._lines.top_key(key), f"unknown top-level key {key!r}")
        if "version" not in data:
            raise self.error(1, "missing top-level 'version = 1'")
        version = data["version"]
        if type(version) is not int or version not in SUPPORTED_VERSIONS:
            supported = ", ".join(map(str, sorted(SUPPORTED_VERSIONS)))
            raise self.error(
                self._lines.top_key("version"), f"unsupported version {version!r} (supported: {supported})"
            )
        entries = data.get("rule", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.error(self._lines.top_key("rule"), "'rule' must be [[rule]] tables")
        rules = [self._rule(index, entry) for index, entry in enumerate(entries)]
        self._no_double_claims(rules)
        return OwnershipPolicy(version, rules, self._fields)

    def _rule(self, index: int, entry: dict[str, Any]) -> Rule:
        line = self._lines.rule(index)
        for key in entry:
            if key not in _RULE_KEYS:
                raise self.error(self._lines.key(index, key), f"unknown key {key!r} in [[rule]]")
        for key in _REQUIRED_RULE_KEYS:
            if key not in entry:
                raise self.error(line, f"[[rule]] has no {key!r}")
        object_type = entry["object"]
        if not isinstance(object_type, str) or object_type not in self._fields:
            known = ", ".join(sorted(self._fields))
            raise self.error(
                self._lines.key(index, "object"), f"unknown object type {object_type!r} (known: {known})"
            )
        attributes = self._attributes(index, object_type, entry["attributes"])
        once_active = entry.get("owner_once_active")
        return Rule(
            object_type=object_type,
            attributes=attributes,
            owner=self._roles(index, "owner", entry["owner"], allow_empty=False),
            owner_once_active=None
            if once_active is None
            else self._roles(index, "owner_once_active", once_active, allow_empty=False),
            flows_to=self._roles(index, "flows_to", entry["flows_to"], allow_empty=True),
            line=line,
        )

    def _attributes(self, index: int, object_type: str, value: object) -> frozenset[str]:
        where = self._lines.key(index, "attributes")
        if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
            raise self.error(where, "attributes must be a non-empty list of attribute names")
        if ALL in value and len(value) > 1:
            raise self.error(where, f"'*' (every other attribute of {object_type}) must stand alone")
        seen: set[str] = set()
        for name in value:
            line = self._lines.value(index, "attributes", name)
            if name in seen:
                raise self.error(line, f"{object_type}.{name} is listed twice")
            seen.add(name)
            if name in BOOKKEEPING:
                raise self.error(line, f"{object_type}.{name} is bookkeeping, not a business attribute")
            if name != ALL and name not in self._fields[object_type]:
                known = ", ".join(sorted(self._fields[object_type]))
                raise self.error(line, f"{object_type} has no attribute {name!r} (its attributes: {known})")
        return frozenset(value)

    def _roles(self, index: int, key: str, value: object, *, allow_empty: bool) -> frozenset[str]:
        roles = [value] if isinstance(value, str) else value
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise self.error(self._lines.key(index, key), f"{key} must be a role or a list of roles")
        if not roles and not allow_empty:
            raise self.error(self._lines.key(index, key), f"{key} names no role")
        for role in roles:
            if role not in ROLES:
                raise self.error(
                    self._lines.value(index, key, role),
                    f"{key}: unknown role {role!r} (roles: {', '.join(sorted(ROLES))})",
                )
        return frozenset(roles)

    def _no_double_claims(self, rules: list[Rule]) -> None:
        claimed: dict[tuple[str, str], Rule] = {}
        for index, rule in enumerate(rules):
            for name in sorted(rule.attributes):
                first = claimed.setdefault((rule.object_type, name), rule)
                if first is not rule:
                    what = "the fallback rule ['*']" if name == ALL else f"attribute {name!r}"
                    raise self.error(
                        self._lines.value(index, "attributes", name),
                        f"{rule.object_type}: {what} is already claimed by the rule at line {first.line}",
                    )


_TABLE_HEADER = re.compile(r"^\s*\[\[?\s*[A-Za-z0-9_.\"' -]+\s*\]\]?\s*(#.*)?$")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


class _Lines:
    """Line numbers of the policy's entries, found by scanning the text (tomllib keeps none)."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        headers = [n for n, line in enumerate(self._lines, 1) if _TABLE_HEADER.match(line)]
        self._rules = [n for n in headers if _RULE_HEADER.match(self._lines[n - 1])]
        # Each [[rule]] spans from its header to the line before the next table header.
        self._ends = {n: next((h for h in headers if h > n), len(self._lines) + 1) - 1 for n in self._rules}
        self._first_header = headers[0] if headers else len(self._lines) + 1

    def rule(self, index: int) -> int:
        return self._rules[index] if index < len(self._rules) else self.top_key("rule")

    def top_key(self, key: str) -> int:
        return self._find_key(key, 1, self._first_header - 1) or 1

    def key(self, index: int, key: str) -> int:
        start = self.rule(index)
        return self._find_key(key, start, self._ends.get(start, start)) or start

    def value(self, index: int, key: str, value: str) -> int:
        """The line of a string in the key's (possibly multi-line) value."""
        start = self.key(index, key)
        end = self._ends.get(self.rule(index), start)
        quoted = (json.dumps(value), f"'{value}'")
        for n in range(start, end + 1):
            line = self._lines[n - 1]
            if n > start and _KEY.match(line):
                break
            if any(q in line for q in quoted):
                return n
        return start

    def _find_key(self, key: str, start: int, end: int) -> int | None:
        for n in range(start, min(end, len(self._lines)) + 1):
            match = _KEY.match(self._lines[n - 1])
            if match and match[1] == key:
                return n
        return None
