"""The published JSON Schemas: committed files match the models, published versions only widen,
and the compatibility checker finds what breaks (hand-written schemas and real model variants)."""

from __future__ import annotations

import copy
import json
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, create_model

from pshub.canonical import schemas
from pshub.canonical.model import Client, TaxProfile
from pshub.canonical.schemas import (
    SCHEMA_DIR,
    PublishedSchema,
    breaking_changes,
    generate,
    model_schema,
    published_schemas,
    render,
)

PUBLISHED = published_schemas()


def _id(published: PublishedSchema) -> str:
    return published.relpath


# --- the committed files --------------------------------------------------------------


@pytest.mark.parametrize("published", PUBLISHED, ids=_id)
def test_committed_schema_is_what_the_model_generates(published: PublishedSchema) -> None:
    # Given the committed schema file of a published model
    path = SCHEMA_DIR / published.relpath
    assert path.exists(), f"{published.relpath} missing: run `python -m pshub.canonical.schemas write`"
    # When the schema is generated from the current model
    generated = render(generate(published))
    # Then they are the same text (a model change comes with its regenerated schema)
    assert path.read_text(encoding="utf-8") == generated, (
        f"{published.relpath} is out of date: run `python -m pshub.canonical.schemas write`"
    )


@pytest.mark.parametrize("published", PUBLISHED, ids=_id)
def test_current_model_does_not_break_its_published_schema(published: PublishedSchema) -> None:
    # Given the committed (published) schema of a version
    committed = json.loads((SCHEMA_DIR / published.relpath).read_text(encoding="utf-8"))
    # When the current model's schema is compared with it
    problems = breaking_changes(committed, generate(published))
    # Then nothing that was valid became invalid: a breaking change needs a new version
    assert problems == [], f"{published.relpath} v{published.version} broken: {problems}"


def test_schema_folder_holds_only_published_schemas() -> None:
    # Given the committed schema folder / When it is checked as `check` does
    problems = schemas.check()
    # Then nothing is missing, stale, broken or stray
    assert problems == []


def test_every_object_event_and_the_envelope_is_published() -> None:
    # Given the registries of the canonical model and envelope
    from pshub.canonical.envelope import EVENT_TYPES
    from pshub.canonical.model import OBJECT_TYPES

    # When the published schemas are listed
    relpaths = {p.relpath for p in PUBLISHED}
    # Then each registered type has its file name, and the envelope is there
    assert {f"objects/{n}.v{v}.json" for n, (v, _) in OBJECT_TYPES.items()} <= relpaths
    assert {f"events/{n}.v{v}.json" for n, (v, _) in EVENT_TYPES.items()} <= relpaths
    assert "envelope/CanonicalEvent.v1.json" in relpaths


def test_generated_schema_is_deterministic_and_identified() -> None:
    # Given the published Client and InvoicePaid schemas
    client = next(p for p in PUBLISHED if p.relpath == "objects/Client.v1.json")
    paid = next(p for p in PUBLISHED if p.relpath == "events/InvoicePaid.v1.json")
    # When they are generated and rendered twice
    text = render(generate(client))
    # Then the text is stable, sorted, newline-terminated and carries $id and title
    assert text == render(generate(client))
    assert text.endswith("}\n")
    assert render(json.loads(text)) == text
    assert json.loads(text)["$id"] == "pshub:object/Client/v1"
    assert generate(paid)["$id"] == "pshub:event/InvoicePaid/v1"
    assert generate(paid)["title"] == "InvoicePaid v1"


# --- the command ------------------------------------------------------------------------


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, target)
    return target


def _edit(path: Path, change: Any) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(render(schema), encoding="utf-8")


def test_check_lists_a_broken_published_schema_and_exits_1(
    schema_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a published Client v1 that had a `nickname` property the model no longer has
    def had_nickname(schema: dict[str, Any]) -> None:
        schema["properties"]["nickname"] = {"type": "string"}

    _edit(schema_copy / "objects/Client.v1.json", had_nickname)
    # When `check` runs
    code = schemas.main(["check", "--dir", str(schema_copy)])
    # Then it fails and names the file, the path and the problem
    err = capsys.readouterr().err
    assert code == 1
    assert "objects/Client.v1.json: /nickname: property removed" in err


def test_check_passes_on_a_faithful_copy(schema_copy: Path) -> None:
    # Given an untouched copy of the committed schemas / When checked / Then exit 0
    assert schemas.main(["check", "--dir", str(schema_copy)]) == 0


def test_check_reports_a_missing_file_and_a_stray_one(schema_copy: Path) -> None:
    # Given a deleted schema and a file no model publishes
    (schema_copy / "events/ClientDeleted.v1.json").unlink()
    (schema_copy / "objects/Ghost.v1.json").write_text("{}\n", encoding="utf-8")
    # When checked
    problems = schemas.check(schema_copy)
    # Then both are reported
    assert any(p.startswith("events/ClientDeleted.v1.json: missing") for p in problems)
    assert any(p.startswith("objects/Ghost.v1.json: no model publishes Ghost") for p in problems)


def test_write_refreshes_a_compatible_change_but_refuses_a_breaking_one(schema_copy: Path) -> None:
    # Given a Client file whose description drifted (compatible) and a Worker file that
    # published a required `badge` the model no longer has (breaking)
    def drifted(schema: dict[str, Any]) -> None:
        schema["description"] = "old words"

    def had_badge(schema: dict[str, Any]) -> None:
        schema["properties"]["badge"] = {"type": "string"}

    _edit(schema_copy / "objects/Client.v1.json", drifted)
    _edit(schema_copy / "objects/Worker.v1.json", had_badge)
    worker_before = (schema_copy / "objects/Worker.v1.json").read_text(encoding="utf-8")
    # When `write` runs
    written, problems = schemas.write(schema_copy)
    # Then Client is rewritten, Worker is left as published and reported
    assert written == ["objects/Client.v1.json"]
    assert (schema_copy / "objects/Worker.v1.json").read_text(encoding="utf-8") == worker_before
    assert "objects/Worker.v1.json: /badge: property removed" in problems
    # And --force overwrites it (for a version never released)
    assert schemas.main(["write", "--force", "--dir", str(schema_copy)]) == 0
    assert schemas.check(schema_copy) == []


# --- the checker on hand-written schemas ---------------------------------------------------

STRING = {"type": "string"}
NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def obj(required: tuple[str, ...] = (), additional: Any = False, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required)}
    if additional is not None:
        schema["additionalProperties"] = additional
    return schema


CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    ("identical", obj(("a",), a=STRING), obj(("a",), a=STRING), []),
    ("optional property added", obj(a=STRING), obj(a=STRING, b=STRING), []),
    ("property removed", obj(a=STRING, b=STRING), obj(a=STRING), ["/b: property removed"]),
    (
        "type changed",
        obj(a=STRING),
        obj(a={"type": "integer"}),
        ["/a: type changed: string is no longer accepted (now integer)"],
    ),
    (
        "nullable removed",
        obj(a=NULLABLE_STRING),
        obj(a=STRING),
        ["/a: type changed: null is no longer accepted (now string)"],
    ),
    ("null added (widening)", obj(a=STRING), obj(a=NULLABLE_STRING), []),
    ("type list widened", obj(a={"type": "string"}), obj(a={"type": ["string", "null"]}), []),
    ("integer to number (widening)", obj(a={"type": "integer"}), obj(a={"type": "number"}), []),
    (
        "number to integer",
        obj(a={"type": "number"}),
        obj(a={"type": "integer"}),
        ["/a: type changed: number is no longer accepted (now integer)"],
    ),
    (
        "any to string",
        obj(a={"title": "A"}),
        obj(a=STRING),
        ["/a: type changed: any value was accepted, now only string"],
    ),
    ("new required property", obj(a=STRING), obj(("b",), a=STRING, b=STRING), ["/b: new required property"]),
    ("optional made required", obj(a=STRING), obj(("a",), a=STRING), ["/a: optional property made required"]),
    ("required made optional", obj(("a",), a=STRING), obj(a=STRING), []),
    (
        "enum value removed",
        obj(a={"type": "string", "enum": ["x", "y", "z"]}),
        obj(a={"type": "string", "enum": ["x"]}),
        ["/a: enum values removed: 'y', 'z'"],
    ),
    (
        "enum value added",
        obj(a={"type": "string", "enum": ["x"]}),
        obj(a={"type": "string", "enum": ["x", "y"]}),
        [],
    ),
    (
        "const changed",
        obj(a={"const": "v1"}),
        obj(a={"const": "v2"}),
        ["/a: enum value removed: 'v1'"],
    ),
    ("enum dropped (widening)", obj(a={"type": "string", "enum": ["x"]}), obj(a=STRING), []),
    (
        "enum introduced",
        obj(a=STRING),
        obj(a={"type": "string", "enum": ["x"]}),
        ["/a: now restricted to ['x']"],
    ),
    (
        "additionalProperties closed",
        obj(additional=None, a=STRING),
        obj(a=STRING),
        ["/: additionalProperties tightened: extra properties no longer allowed"],
    ),
    (
        "additionalProperties given a schema",
        obj(additional=True),
        obj(additional=STRING),
        ["/: additionalProperties tightened: any extra property was allowed, now they must be string"],
    ),
    (
        "map value narrowed",
        obj(m={"type": "object", "additionalProperties": NULLABLE_STRING}),
        obj(m={"type": "object", "additionalProperties": STRING}),
        ["/m/*: type changed: null is no longer accepted (now string)"],
    ),
    ("additionalProperties opened", obj(a=STRING), obj(additional=None, a=STRING), []),
    (
        "array item retyped",
        obj(xs={"type": "array", "items": STRING}),
        obj(xs={"type": "array", "items": {"type": "boolean"}}),
        ["/xs/*: type changed: string is no longer accepted (now boolean)"],
    ),
    (
        "format changed",
        obj(d={"type": "string", "format": "date"}),
        obj(d={"type": "string", "format": "date-time"}),
        ["/d: format changed: format 'date', now 'date-time'"],
    ),
    ("format dropped (widening)", obj(d={"type": "string", "format": "date"}), obj(d=STRING), []),
    (
        "maxLength lowered",
        obj(s={"type": "string", "maxLength": 10}),
        obj(s={"type": "string", "maxLength": 5}),
        ["/s: upper bound lowered: was 10, now 5"],
    ),
    (
        "minimum made exclusive",
        obj(n={"type": "number", "minimum": 0}),
        obj(n={"type": "number", "exclusiveMinimum": 0}),
        ["/n: lower bound raised: was 0, now 0 (exclusive)"],
    ),
    (
        "exclusive minimum relaxed",
        obj(n={"type": "number", "exclusiveMinimum": 0}),
        obj(n={"type": "number", "minimum": 0}),
        [],
    ),
    ("pattern dropped", obj(s={"type": "string", "pattern": "^a"}), obj(s=STRING), []),
    (
        "pattern added",
        obj(s=STRING),
        obj(s={"type": "string", "pattern": "^a"}),
        ["/s: pattern tightened: now '^a'"],
    ),
    ("escaped path", obj(**{"a/b": STRING}), obj(), ["/a~1b: property removed"]),
    (
        "annotations only",
        obj(a={"type": "string", "title": "A"}),
        obj(a={"type": "string", "description": "d"}),
        [],
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_checker_on_hand_written_schemas(
    old: dict[str, Any], new: dict[str, Any], expected: list[str]
) -> None:
    # Given a published schema and a candidate of the same version
    # When they are compared
    problems = breaking_changes(old, new)
    # Then exactly the expected breaking changes are reported
    assert problems == expected


def test_checker_follows_refs_into_defs() -> None:
    # Given a schema whose nested object lives in $defs, and a version retyping a nested field
    def with_tax(tax_id: dict[str, Any]) -> dict[str, Any]:
        return {
            "$defs": {"Tax": obj(tax_id=tax_id)},
            **obj(tax={"anyOf": [{"$ref": "#/$defs/Tax"}, {"type": "null"}]}),
        }

    # When compared
    problems = breaking_changes(with_tax(NULLABLE_STRING), with_tax({"type": "integer"}))
    # Then the nested field is reported with its path through the reference
    assert problems == [
        "/tax/tax_id: type changed: string is no longer accepted (now integer)",
        "/tax/tax_id: type changed: null is no longer accepted (now integer)",
    ]


def test_checker_terminates_on_recursive_definitions() -> None:
    # Given a recursive tree schema, and a version in which a node's label became an integer
    def tree(label: dict[str, Any]) -> dict[str, Any]:
        node = obj(label=label, children={"type": "array", "items": {"$ref": "#/$defs/Node"}})
        return {"$defs": {"Node": node}, "$ref": "#/$defs/Node"}

    # When compared
    problems = breaking_changes(tree(STRING), tree({"type": "integer"}))
    # Then the change is reported once and the recursion stops
    assert problems == ["/label: type changed: string is no longer accepted (now integer)"]


def test_checker_reports_a_ref_moved_to_an_incompatible_definition() -> None:
    # Given a property referring to a Money object that now refers to a string
    old = {"$defs": {"Money": obj(("amount",), amount=STRING)}, **obj(price={"$ref": "#/$defs/Money"})}
    new = {"$defs": {"Price": STRING}, **obj(price={"$ref": "#/$defs/Price"})}
    # When compared / Then the lost object type is reported
    assert breaking_changes(old, new) == ["/price: type changed: object is no longer accepted (now string)"]


# --- the checker on real model variants ------------------------------------------------------

CLIENT_SCHEMA = model_schema(Client, "pshub:object/Client/v1", "Client v1")
_CONFIG = ConfigDict(frozen=True, extra="forbid")


def client_variant(*, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """Client v1's schema as it would be with some fields dropped, retyped or added."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in Client.model_fields.items() if name not in drop
    }
    fields.update(changes)
    variant: type[BaseModel] = create_model("Client", __config__=_CONFIG, __doc__=Client.__doc__, **fields)
    return model_schema(variant, "pshub:object/Client/v1", "Client v1")


def test_real_variant_builder_reproduces_client() -> None:
    # Given the unchanged copy of Client / When its schema is built / Then it equals Client's
    assert client_variant() == CLIENT_SCHEMA


REAL_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("field removed", {"drop": ("segment",)}, ["/segment: property removed"]),
    (
        "field retyped",
        {"name": (int, ...)},
        ["/name: type changed: string is no longer accepted (now integer)"],
    ),
    ("new required field", {"tier": (str, ...)}, ["/tier: new required property"]),
    (
        "optional field made required",
        {"legal_name": (str, ...)},
        [
            "/legal_name: type changed: null is no longer accepted (now string)",
            "/legal_name: optional property made required",
        ],
    ),
    ("new optional field", {"tier": (str | None, None)}, []),
    ("field made nullable (widening)", {"name": (str | None, ...)}, []),
    ("required field given a default", {"name": (str, "unnamed")}, []),
]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in REAL_CASES], ids=[c[0] for c in REAL_CASES])
def test_checker_on_client_variants(changes: dict[str, Any], expected: list[str]) -> None:
    # Given the published Client v1 schema and a variant of the model
    new = client_variant(**changes)
    # When compared
    problems = breaking_changes(CLIENT_SCHEMA, new)
    # Then the variant's breaking changes, and only those, are reported
    assert problems == expected


def test_checker_on_a_nested_model_variant() -> None:
    # Given a Client whose TaxProfile's `exempt` became a string (TaxProfile is in $defs)
    tax_fields = {name: (info.annotation, info) for name, info in TaxProfile.model_fields.items()}
    tax_fields["exempt"] = (str, "no")
    tax = create_model("TaxProfile", __config__=_CONFIG, **tax_fields)
    # When compared with the published Client
    problems = breaking_changes(CLIENT_SCHEMA, client_variant(tax_profile=(tax | None, None)))
    # Then the nested field is reported through the reference
    assert problems == ["/tax_profile/exempt: type changed: boolean is no longer accepted (now string)"]


def test_checker_on_an_enum_variant() -> None:
    # Given a Client whose status enum lost `inactive`
    status = StrEnum("ClientStatus", {"PROSPECT": "prospect", "ACTIVE": "active"})  # type: ignore[misc]
    # When compared with the published Client
    problems = breaking_changes(CLIENT_SCHEMA, client_variant(status=(status, status.ACTIVE)))
    # Then the removed value is reported
    assert problems == ["/status: enum value removed: 'inactive'"]


def test_checker_does_not_mutate_its_inputs() -> None:
    # Given two schemas / When compared / Then neither is changed
    old, new = copy.deepcopy(CLIENT_SCHEMA), client_variant(drop=("segment",))
    new_before = copy.deepcopy(new)
    breaking_changes(old, new)
    assert old == CLIENT_SCHEMA
    assert new == new_before
