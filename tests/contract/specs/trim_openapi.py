"""Trim an OpenAPI 3 document to a chosen set of operations.

Keeps the named operations (with their path-level parameters), every component they
reference transitively (``$ref`` closure over the whole kept tree, vendor extensions
included, so every reference in the output resolves), ``components.securitySchemes``,
and the document's ``openapi``, ``info``, ``servers``, ``security`` and ``tags`` (tags
only when an operation uses them).

Usage::

    python tests/contract/specs/trim_openapi.py INPUT OUTPUT \\
        --op "POST /v1/customers" --op "GET /v1/customers/{customer}" ...
    python tests/contract/specs/trim_openapi.py INPUT OUTPUT --ops-file operations.txt
    python tests/contract/specs/trim_openapi.py A.yml OUTPUT --merge B.yml --merge C.yml --ops-file ...

INPUT may be JSON or YAML. ``--merge`` adds the paths and components of further
documents of the same API (split per resource, as Kantata's are) before trimming; on a
name used by two of them the first document's definition is kept and a note is printed. OUTPUT is compact JSON with sorted keys (deterministic).
``--drop-descriptions`` removes ``description`` texts (operation summaries stay) to
shrink the file; validation does not read them. A missing operation is an
error, so a renamed path in a newer spec is noticed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yaml", ".yml"}:
        import yaml

        loaded = yaml.safe_load(text)
    else:
        loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: not an OpenAPI document")
    return loaded


def merge(base: dict[str, Any], other: dict[str, Any], label: str) -> None:
    """Add ``other``'s paths and components to ``base`` (first definition wins)."""
    for path, item in other.get("paths", {}).items():
        kept = base.setdefault("paths", {}).setdefault(path, {})
        for key, value in item.items():
            if key not in kept:
                kept[key] = value
            elif kept[key] != value:
                print(f"{label}: {path} {key} differs from an earlier document; first kept", file=sys.stderr)
    for kind, entries in other.get("components", {}).items():
        kept_kind = base.setdefault("components", {}).setdefault(kind, {})
        for name, value in entries.items():
            if name not in kept_kind:
                kept_kind[name] = value
            elif kept_kind[name] != value:
                print(
                    f"{label}: components.{kind}.{name} differs from an earlier document; first kept",
                    file=sys.stderr,
                )


def parse_operation(text: str) -> tuple[str, str]:
    method, _, path = text.strip().partition(" ")
    method = method.lower()
    path = path.strip()
    if method not in HTTP_METHODS or not path.startswith("/"):
        raise SystemExit(f"not an operation (want 'METHOD /path'): {text!r}")
    return method, path


def _refs(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.append(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _pointer(ref: str) -> tuple[str, ...]:
    if not ref.startswith("#/"):
        raise SystemExit(f"external reference not supported: {ref}")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in ref[2:].split("/"))


def _get(doc: dict[str, Any], pointer: tuple[str, ...]) -> Any:
    node: Any = doc
    for part in pointer:
        node = node[part]
    return node


# Maps keyed by names chosen by the spec's author: a key "description" there is a name.
_NAME_MAPS = frozenset(
    {
        "properties",
        "patternProperties",
        "encoding",
        "schemas",
        "responses",
        "headers",
        "examples",
        "securitySchemes",
        "parameters",
        "requestBodies",
        "paths",
        "callbacks",
        "links",
        "mapping",
        "$defs",
    }
)


def _drop_descriptions(node: Any, *, names: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            key: _drop_descriptions(value, names=not names and key in _NAME_MAPS)
            for key, value in node.items()
            if names or key != "description"
        }
    if isinstance(node, list):
        return [_drop_descriptions(value) for value in node]
    return node


def trim(
    spec: dict[str, Any], operations: list[tuple[str, str]], *, drop_descriptions: bool = False
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in operations:
        item = spec.get("paths", {}).get(path)
        if item is None or method not in item:
            raise SystemExit(f"operation not in the spec: {method.upper()} {path}")
        kept = paths.setdefault(path, {})
        kept[method] = item[method]
        for key in ("parameters", "servers", "summary", "description"):
            if key in item:
                kept[key] = item[key]

    out: dict[str, Any] = {
        key: spec[key]
        for key in ("openapi", "info", "servers", "security", "jsonSchemaDialect")
        if key in spec
    }
    out["paths"] = paths

    # $ref closure: walk kept nodes, copy each referenced component once.
    seen: set[tuple[str, ...]] = set()
    pending: list[str] = []
    _refs(paths, pending)
    security_schemes = spec.get("components", {}).get("securitySchemes")
    if security_schemes:
        _refs(security_schemes, pending)
    components: dict[str, dict[str, Any]] = {}
    while pending:
        pointer = _pointer(pending.pop())
        if pointer in seen:
            continue
        seen.add(pointer)
        if len(pointer) != 3 or pointer[0] != "components":
            raise SystemExit(f"reference outside components.<kind>.<name>: #/{'/'.join(pointer)}")
        target = _get(spec, pointer)
        components.setdefault(pointer[1], {})[pointer[2]] = target
        _refs(target, pending)
    if security_schemes:
        components.setdefault("securitySchemes", {}).update(security_schemes)
    if components:
        out["components"] = components

    used_tags = {
        tag
        for item in paths.values()
        for op in item.values()
        if isinstance(op, dict)
        for tag in op.get("tags", [])
    }
    if used_tags and "tags" in spec:
        out["tags"] = [tag for tag in spec["tags"] if tag.get("name") in used_tags]

    if drop_descriptions:
        out = _drop_descriptions(out)
        # the info object keeps its description: it names the source
        out["info"] = spec.get("info", {})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--op", action="append", default=[], help='an operation, "METHOD /path" (repeatable)')
    parser.add_argument("--ops-file", type=Path, help="a file with one operation a line (# comments allowed)")
    parser.add_argument(
        "--merge", action="append", default=[], type=Path, help="a further document to merge in"
    )
    parser.add_argument("--drop-descriptions", action="store_true")
    args = parser.parse_args(argv)

    lines = list(args.op)
    if args.ops_file:
        lines += [
            line.split("#", 1)[0].strip()
            for line in args.ops_file.read_text(encoding="utf-8").splitlines()
            if line.split("#", 1)[0].strip()
        ]
    if not lines:
        parser.error("no operations given (--op or --ops-file)")
    operations = [parse_operation(line) for line in lines]

    spec = load(args.input)
    for extra in args.merge:
        merge(spec, load(extra), str(extra))
    trimmed = trim(spec, operations, drop_descriptions=args.drop_descriptions)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(trimmed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    args.output.write_text(text + "\n", encoding="utf-8")
    schemas = len(trimmed.get("components", {}).get("schemas", {}))
    print(
        f"{args.output}: {len(operations)} operations, {schemas} schemas, {len(text.encode())} bytes",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
