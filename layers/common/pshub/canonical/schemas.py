"""Published JSON Schemas of the canonical contracts, and the guard that keeps them compatible.

Every canonical object (``OBJECT_TYPES``), every event payload (``EVENT_TYPES``) and the
``CanonicalEvent`` envelope is exported as a JSON Schema file under ``schemas/``. Those files
are the published contract: once a version is published, a change may only widen it (what
was valid stays valid, so archived events replay and consumers that validate keep working)
and no property may disappear. Anything else is a new version beside the old one.

    python -m pshub.canonical.schemas write   # regenerate; refuses to overwrite a file incompatibly
    python -m pshub.canonical.schemas check   # exit 1 and list the problems if out of date or broken

``write --force`` overwrites even with a breaking change: only for a version that was never
released.
"""

from __future__ import annotations

import argparse
import json
import operator
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pshub.canonical.envelope import EVENT_TYPES, CanonicalEvent
from pshub.canonical.model import OBJECT_TYPES

SCHEMA_DIR = Path(__file__).with_name("schemas")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_VERSION = 1  # envelope.py has no version constant of its own; bump with a v2 envelope
_FILE_NAME = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)\.json$")

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class PublishedSchema:
    """One published (kind, name, version) and the model that produces it."""

    kind: str  # the folder: "objects", "events" or "envelope"
    name: str
    version: int
    model: type[BaseModel]

    @property
    def relpath(self) -> str:
        return f"{self.kind}/{self.name}.v{self.version}.json"

    @property
    def schema_id(self) -> str:
        return f"pshub:{_ID_KIND[self.kind]}/{self.name}/v{self.version}"


_ID_KIND = {"objects": "object", "events": "event", "envelope": "envelope"}


def published_schemas() -> list[PublishedSchema]:
    objects = [PublishedSchema("objects", name, v, model) for name, (v, model) in OBJECT_TYPES.items()]
    events = [PublishedSchema("events", name, v, model) for name, (v, model) in EVENT_TYPES.items()]
    envelope = PublishedSchema("envelope", "CanonicalEvent", ENVELOPE_VERSION, CanonicalEvent)
    return [*objects, *events, envelope]


def model_schema(model: type[BaseModel], schema_id: str, title: str) -> dict[str, Any]:
    """The serialised form's JSON Schema: what a consumer reads off the wire or the archive."""
    schema = model.model_json_schema(mode="serialization")
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, "$id": schema_id, "title": title}


def generate(published: PublishedSchema) -> dict[str, Any]:
    title = f"{published.name} v{published.version}"
    return model_schema(published.model, published.schema_id, title)


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- the compatibility checker ---------------------------------------------------------

# Keys that describe a schema without constraining the values it accepts.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$defs",
        "definitions",
    }
)
_MAX_REF_HOPS = 32


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """What data valid under ``old`` would no longer be valid (or complete) under ``new``.

    Both are schemas of the same published version. Reported, each as ``<path>: <what>``
    with a JSON-pointer-like path into the instance (``*`` = every item / map value):
    a removed property; a type no longer accepted (``anyOf``/nullable included; widening,
    e.g. adding ``null`` or integer -> number, is fine); a new required property or an
    optional one made required; an enum value removed; ``additionalProperties``, format,
    pattern or bounds tightened. ``$ref`` is resolved against each document's ``$defs``.
    """
    problems: list[str] = []
    _Comparison(old, new).compare(old, new, "", frozenset(), problems)
    return problems


@dataclass(frozen=True)
class _Branch:
    """One alternative of an ``anyOf``/``oneOf``/type list, with the ``$ref`` that led to it."""

    schema: Schema
    type: str  # JSON type, or "any"
    ref: str | None


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self._old_root = old_root
        self._new_root = new_root

    def compare(
        self,
        old: Schema,
        new: Schema,
        path: str,
        seen: frozenset[tuple[str | None, str | None]],
        problems: list[str],
    ) -> None:
        new_branches = _branches(new, self._new_root)
        for old_branch in _branches(old, self._old_root):
            candidates = [nb for nb in new_branches if _accepts(nb.type, old_branch.type)]
            if not candidates:
                problems.append(f"{_show(path)}: {_lost_type(old_branch, new_branches)}")
                continue
            # Several new branches of one type (e.g. two object shapes): the closest one counts.
            outcomes = [self._compare_branch(old_branch, nb, path, seen) for nb in candidates]
            closest: list[str] = min(outcomes, key=len)
            problems.extend(closest)

    def _compare_branch(
        self, old: _Branch, new: _Branch, path: str, seen: frozenset[tuple[str | None, str | None]]
    ) -> list[str]:
        problems: list[str] = []
        pair = (old.ref, new.ref)
        if pair != (None, None):
            if pair in seen:  # a recursive definition already being compared further up
                return problems
            seen = seen | {pair}
        problems.extend(f"{_show(path)}: {p}" for p in _value_restrictions(old.schema, new.schema))
        if old.type == "object" and new.type == "object":
            self._compare_object(old.schema, new.schema, path, seen, problems)
        elif old.type == "array" and new.type == "array":
            self.compare(
                old.schema.get("items", {}), new.schema.get("items", {}), f"{path}/*", seen, problems
            )
        return problems

    def _compare_object(
        self,
        old: Schema,
        new: Schema,
        path: str,
        seen: frozenset[tuple[str | None, str | None]],
        problems: list[str],
    ) -> None:
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        for name in sorted(old_props):
            where = f"{path}/{_escape(name)}"
            if name not in new_props:
                problems.append(f"{where}: property removed")
            else:
                self.compare(old_props[name], new_props[name], where, seen, problems)
        old_required = set(old.get("required", ()))
        for name in sorted(set(new.get("required", ())) - old_required):
            what = "optional property made required" if name in old_props else "new required property"
            problems.append(f"{path}/{_escape(name)}: {what}")
        self._compare_additional(old, new, path, seen, problems)

    def _compare_additional(
        self,
        old: Schema,
        new: Schema,
        path: str,
        seen: frozenset[tuple[str | None, str | None]],
        problems: list[str],
    ) -> None:
        old_extra = _additional(old)
        new_extra = _additional(new)
        if old_extra is None or (new_extra is not None and _unconstrained(new_extra)):
            return
        if new_extra is None:
            problems.append(
                f"{_show(path)}: additionalProperties tightened: extra properties no longer allowed"
            )
        elif _unconstrained(old_extra):
            problems.append(
                f"{_show(path)}: additionalProperties tightened: any extra property was allowed, "
                f"now they must be {_describe(_branches(new_extra, self._new_root))}"
            )
        else:
            self.compare(old_extra, new_extra, f"{path}/*", seen, problems)


def _branches(schema: Schema, root: Schema, ref: str | None = None, hops: int = 0) -> list[_Branch]:
    if "$ref" in schema:
        if hops > _MAX_REF_HOPS:
            raise ValueError(f"$ref chain too long at {schema['$ref']!r}")
        target = _resolve(root, schema["$ref"])
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return _branches({**target, **siblings}, root, schema["$ref"], hops + 1)
    if isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:  # older pydantic's ref wrapper
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return _branches({**schema["allOf"][0], **rest}, root, ref, hops + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [b for alternative in schema[key] for b in _branches(alternative, root, ref, hops + 1)]
    return list(_typed(schema, ref))


def _typed(schema: Schema, ref: str | None) -> Iterator[_Branch]:
    declared = schema.get("type")
    if isinstance(declared, list):
        for t in declared:
            yield _Branch({**schema, "type": t}, t, ref)
    elif isinstance(declared, str):
        yield _Branch(schema, declared, ref)
    elif "const" in schema:
        yield _Branch(schema, _json_type(schema["const"]), ref)
    elif "enum" in schema:  # an untyped enum: one branch per JSON type of its values
        by_type: dict[str, list[Any]] = {}
        for value in schema["enum"]:
            by_type.setdefault(_json_type(value), []).append(value)
        for t, values in by_type.items():
            yield _Branch({**schema, "enum": values, "type": t}, t, ref)
    elif "properties" in schema or "additionalProperties" in schema:
        yield _Branch(schema, "object", ref)
    elif "items" in schema or "prefixItems" in schema:
        yield _Branch(schema, "array", ref)
    else:
        yield _Branch(schema, "any", ref)


def _resolve(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref are supported, not {ref!r}")
    node: Any = root
    for token in ref[1:].lstrip("/").split("/") if ref != "#" else []:
        key = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(f"unresolvable $ref {ref!r}")
        node = node[key]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref!r} does not point at a schema")
    return node


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _accepts(new_type: str, old_type: str) -> bool:
    return new_type in (old_type, "any") or (old_type == "integer" and new_type == "number")


def _lost_type(old: _Branch, new: list[_Branch]) -> str:
    if old.type == "any":
        return f"type changed: any value was accepted, now only {_describe(new)}"
    return f"type changed: {old.type} is no longer accepted (now {_describe(new)})"


def _describe(branches: Sequence[_Branch]) -> str:
    return " | ".join(dict.fromkeys(b.type for b in branches)) or "nothing"


def _additional(schema: Schema) -> Schema | None:
    """The schema extra properties must match; None when none are allowed."""
    extra = schema.get("additionalProperties", True)
    if extra is False:
        return None
    return {} if extra is True else extra


def _unconstrained(schema: Schema) -> bool:
    return set(schema) <= _ANNOTATIONS


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _show(path: str) -> str:
    return path or "/"


# --- restrictions on the values of one type --------------------------------------------

_LOWER = (("minimum", "exclusiveMinimum"), ("minLength", None), ("minItems", None), ("minProperties", None))
_UPPER = (("maximum", "exclusiveMaximum"), ("maxLength", None), ("maxItems", None), ("maxProperties", None))


def _value_restrictions(old: Schema, new: Schema) -> Iterator[str]:
    yield from _enum_restrictions(old, new)
    if "format" in new and old.get("format") != new["format"]:
        was = f"format {old['format']!r}" if "format" in old else "no format"
        yield f"format changed: {was}, now {new['format']!r}"
    if "pattern" in new and old.get("pattern") != new["pattern"]:
        yield f"pattern tightened: now {new['pattern']!r}"
    for inclusive, exclusive in _LOWER:
        yield from _bound(old, new, inclusive, exclusive, stricter=operator.gt, what="lower bound raised")
    for inclusive, exclusive in _UPPER:
        yield from _bound(old, new, inclusive, exclusive, stricter=operator.lt, what="upper bound lowered")


def _enum_restrictions(old: Schema, new: Schema) -> Iterator[str]:
    new_values = _allowed_values(new)
    if new_values is None:
        return
    old_values = _allowed_values(old)
    if old_values is None:
        yield f"now restricted to {sorted(new_values.values(), key=repr)}"
        return
    removed = [old_values[k] for k in old_values if k not in new_values]
    if removed:
        yield f"enum value{'s' if len(removed) > 1 else ''} removed: {', '.join(map(repr, removed))}"


def _allowed_values(schema: Schema) -> dict[str, Any] | None:
    if "const" in schema:
        values = [schema["const"]]
    elif "enum" in schema:
        values = list(schema["enum"])
    else:
        return None
    return {json.dumps(v, sort_keys=True): v for v in values}


def _bound(
    old: Schema,
    new: Schema,
    inclusive: str,
    exclusive: str | None,
    *,
    stricter: Callable[[Any, Any], bool],
    what: str,
) -> Iterator[str]:
    new_bound = _effective_bound(new, inclusive, exclusive)
    if new_bound is None:
        return
    old_bound = _effective_bound(old, inclusive, exclusive)
    if (
        old_bound is None
        or stricter(new_bound[0], old_bound[0])
        or (new_bound[0] == old_bound[0] and new_bound[1] and not old_bound[1])
    ):
        was = "none" if old_bound is None else _show_bound(old_bound)
        yield f"{what}: was {was}, now {_show_bound(new_bound)}"


def _effective_bound(schema: Schema, inclusive: str, exclusive: str | None) -> tuple[Any, bool] | None:
    """(value, exclusive?) of the tighter of the two keywords present, if any."""
    bounds: list[tuple[Any, bool]] = []
    if inclusive in schema:
        bounds.append((schema[inclusive], False))
    if exclusive is not None and exclusive in schema:
        bounds.append((schema[exclusive], True))
    if not bounds:
        return None
    lower = inclusive.startswith("min")
    # Tighter: the larger lower bound / the smaller upper bound; at a tie the exclusive one.
    return max(bounds, key=lambda b: (b[0] if lower else -b[0], b[1]))


def _show_bound(bound: tuple[Any, bool]) -> str:
    return f"{bound[0]} (exclusive)" if bound[1] else str(bound[0])


# --- files -----------------------------------------------------------------------------


def check(directory: Path = SCHEMA_DIR) -> list[str]:
    """Problems with the committed schema files, each ``<file>: <what>``; empty when all is well."""
    problems: list[str] = []
    for published in published_schemas():
        problems.extend(_check_one(directory, published))
    problems.extend(_orphans(directory))
    return problems


def write(directory: Path = SCHEMA_DIR, *, force: bool = False) -> tuple[list[str], list[str]]:
    """Regenerate the files: (files written, problems). A breaking change is not written unless forced."""
    written: list[str] = []
    problems: list[str] = []
    for published in published_schemas():
        path = directory / published.relpath
        text = render(generate(published))
        if path.exists():
            current = path.read_text(encoding="utf-8")
            if current == text:
                continue
            breaking = _breaking_vs_file(current, published) if not force else []
            if breaking:
                problems.extend(f"{published.relpath}: {p}" for p in breaking)
                problems.append(f"{published.relpath}: not overwritten: {_NEW_VERSION_HINT}")
                continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(published.relpath)
    return written, problems


_NEW_VERSION_HINT = (
    "a published version may only be widened; publish the change as a new version beside this one"
)


def _check_one(directory: Path, published: PublishedSchema) -> list[str]:
    path = directory / published.relpath
    if not path.exists():
        return [f"{published.relpath}: missing; run `python -m pshub.canonical.schemas write`"]
    current = path.read_text(encoding="utf-8")
    if current == render(generate(published)):
        return []
    breaking = _breaking_vs_file(current, published)
    if breaking:
        return [f"{published.relpath}: {p}" for p in breaking] + [f"{published.relpath}: {_NEW_VERSION_HINT}"]
    return [f"{published.relpath}: out of date (compatible); run `python -m pshub.canonical.schemas write`"]


def _breaking_vs_file(committed_text: str, published: PublishedSchema) -> list[str]:
    try:
        committed = json.loads(committed_text)
    except json.JSONDecodeError as exc:
        return [f"not valid JSON ({exc})"]
    return breaking_changes(committed, generate(published))


def _orphans(directory: Path) -> Iterator[str]:
    """Committed files no model produces. An older version of a still-published name is kept."""
    current = {(p.kind, p.name): p.version for p in published_schemas()}
    for path in sorted(directory.glob("*/*")):
        relpath = f"{path.parent.name}/{path.name}"
        match = _FILE_NAME.match(path.name)
        if path.parent.name not in _ID_KIND or match is None:
            yield f"{relpath}: unexpected file in the schema folder"
            continue
        version = current.get((path.parent.name, match["name"]))
        if version is None:
            yield f"{relpath}: no model publishes {match['name']} any more (a published contract was removed)"
        elif int(match["version"]) > version:
            yield f"{relpath}: newer than the published v{version}"


_DESCRIPTION = "Write or check the published JSON Schemas of the canonical contracts."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pshub.canonical.schemas", description=_DESCRIPTION)
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="write: overwrite even with a breaking change")
    args = parser.parse_args(argv)
    if args.command == "write":
        written, problems = write(args.dir, force=args.force)
        for relpath in written:
            print(f"wrote {relpath}")
    else:
        problems = check(args.dir)
    if problems:
        print(f"{len(problems)} schema problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if args.command == "check":
        print(f"{len(published_schemas())} schemas up to date and compatible")
    return 0


if __name__ == "__main__":
    sys.exit(main())
