"""Validate the HTTP traffic of connectors and fakes against vendors' OpenAPI documents.

The documents are the trimmed copies under ``tests/contract/specs/<vendor>/openapi.json``
(see each README for source and commit). Each is loaded once per process.

``validate_request`` checks what a connector sends; ``validate_response`` checks what a
fake answers. Both raise ``AssertionError`` naming the vendor, the operation (the spec's
``operationId``) and every violated rule. Only the path of a URL counts: the host is
ignored (fakes listen on 127.0.0.1 with arbitrary ports) and the server's base path
(``/api/v1`` for Kantata) may be present or not.

Validation is openapi-core's (``OpenAPI`` with the validator classes for the version the
document declares), fed through the small request/response classes below, with one
exception: Stripe's form-encoded bodies and bracketed query strings
(``metadata[pshub_client_id]=...``, ``items[0][price]=...``, ``expand[0]=...``).
openapi-core's ``deepObject`` support reads one level of ``name[key]`` for schemas typed
``object`` only, while Stripe nests deeper, indexes arrays and wraps most fields in
``anyOf``. For those, this module decodes the brackets into nested dicts and lists,
turns strings into the integers/booleans/numbers the schema asks for, and validates the
result with openapi-core's OpenAPI 3.0 write-schema validator against the operation's
own schemas. Unknown Stripe query parameters are rejected as Stripe rejects them
(its request bodies already say ``additionalProperties: false``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema_path import SchemaPath
from openapi_core import OpenAPI
from openapi_core.configurations import Config
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.validation.request.exceptions import ParameterValidationError, RequestBodyValidationError
from openapi_core.validation.request.validators import (
    APICallRequestBodyValidator,
    APICallRequestSecurityValidator,
    V30RequestBodyValidator,
    V30RequestSecurityValidator,
    V31RequestBodyValidator,
    V31RequestSecurityValidator,
    V32RequestBodyValidator,
    V32RequestSecurityValidator,
)
from openapi_core.validation.response.exceptions import DataValidationError, HeaderValidationError
from openapi_core.validation.schemas import oas30_write_schema_validators_factory
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPECS = Path(__file__).resolve().parent / "specs"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class _Vendor:
    spec: str
    # Stripe: bodies and query strings in bracket notation, decoded here (see module doc).
    bracket_forms: bool = False
    # Suffixes the vendor accepts after a resource path and the spec leaves out.
    path_suffixes: tuple[str, ...] = ()
    # Response objects' properties may be null although the schema gives only a type.
    null_properties: bool = False


_VENDORS: dict[str, _Vendor] = {
    "stripe": _Vendor("stripe/openapi.json", bracket_forms=True),
    "kantata": _Vendor("kantata/openapi.json", path_suffixes=(".json",), null_properties=True),
}


def known_vendors() -> tuple[str, ...]:
    """The vendors with a vendored OpenAPI document."""
    return tuple(sorted(_VENDORS))


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Loaded:
    name: str
    vendor: _Vendor
    raw: dict[str, Any]
    app: OpenAPI
    finder: APICallPathFinder
    host_url: str  # scheme://host of the first server
    base_path: str  # path of the first server, without trailing slash


@cache
def _load(vendor: str) -> _Loaded:
    if vendor not in _VENDORS:
        raise AssertionError(
            f"no OpenAPI document for vendor {vendor!r} (known: {', '.join(known_vendors())})"
        )
    config = _VENDORS[vendor]
    raw = json.loads((SPECS / config.spec).read_text(encoding="utf-8"))
    if str(raw.get("openapi", "")).startswith("3.0"):
        _null_alternatives(raw)
    if config.null_properties:
        for schema in raw.get("components", {}).get("schemas", {}).values():
            _nullable_properties(schema)
    # The vendored documents are checked once by the test suite
    # (test_vendored_documents_are_valid_openapi),
    # not on every load: openapi-spec-validator takes about a second per document.
    app = OpenAPI.from_dict(raw, config=Config(spec_validator_cls=None))
    server = urlsplit(raw.get("servers", [{"url": "/"}])[0]["url"])
    return _Loaded(
        name=vendor,
        vendor=config,
        raw=raw,
        app=app,
        finder=APICallPathFinder(app.spec),
        host_url=f"{server.scheme}://{server.netloc}" if server.netloc else "http://localhost",
        base_path=server.path.rstrip("/"),
    )


def _null_alternatives(node: Any) -> None:
    """Make ``nullable: true`` admit null where OpenAPI 3.0.3's reading does not.

    OpenAPI 3.0.3 gives ``nullable`` meaning only next to a ``type`` in the same schema
    object and leaves ``enum`` alone (null must be listed), and openapi-schema-validator
    follows that. Stripe writes ``{"anyOf": [{"$ref": ...}], "nullable": true}`` for every
    nullable expandable field and ``{"enum": [...], "nullable": true}`` for nullable
    enums, meaning "or null" in both. The loaded copy gets an explicit null alternative
    (and ``None`` in such enums); the vendored file stays as published.
    """
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        if node.get("nullable") is True and "type" not in node:
            for key in ("anyOf", "oneOf"):
                if isinstance(node.get(key), list):
                    node[key] = [*node[key], {"enum": [None]}]
                    break
            else:
                if isinstance(node.get("allOf"), list):
                    node["anyOf"] = [{"allOf": node.pop("allOf")}, {"enum": [None]}]
        for value in node.values():
            _null_alternatives(value)
    elif isinstance(node, list):
        for value in node:
            _null_alternatives(value)


def _nullable_properties(schema: Any) -> None:
    """Let every property of a component schema (nested ones too) be null.

    Kantata's document comes from a Swagger 2.0 original, which cannot say "nullable",
    while the API sends null for unset fields (its own documentation's response examples
    show ``"time_estimate_in_minutes": null``, ``"parent_id": null``). Only component
    schemas change, i.e. the objects of responses; request bodies are inline and keep
    their types.
    """
    if not isinstance(schema, dict):
        return
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict):
            kind = prop.get("type")
            if isinstance(kind, str):
                prop["type"] = [kind, "null"]
            _nullable_properties(prop)


def spec_document(vendor: str) -> dict[str, Any]:
    """The vendored document as a dict (read-only by convention)."""
    return _load(vendor).raw


# ------------------------------------------------------------ requests and responses


class _Request:
    """openapi-core's ``Request`` protocol over plain values."""

    def __init__(
        self, loaded: _Loaded, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> None:
        parts = urlsplit(url)
        self.host_url = loaded.host_url
        self.path = _spec_path(loaded, parts.path or "/")
        self.method = method.lower()
        self.body = body or None
        self.headers = Headers(list(headers.items()))
        self.content_type = (self.headers.get("Content-Type") or "").lower()
        self.query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query_pairs), header=self.headers, cookie=ImmutableMultiDict()
        )

    @property
    def full_url(self) -> str:
        return self.host_url + self.path


class _Response:
    """openapi-core's ``Response`` protocol over plain values."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status_code = status
        self.headers = Headers(list(headers.items()))
        self.content_type = (self.headers.get("Content-Type") or "").lower()
        self.data = body


def _spec_path(loaded: _Loaded, path: str) -> str:
    """The request path as the spec's server sees it: base path added, suffix dropped."""
    base = loaded.base_path
    if base and not (path == base or path.startswith(base + "/")):
        path = base + path
    for suffix in loaded.vendor.path_suffixes:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return path


@dataclass(frozen=True)
class _Operation:
    path: str  # the spec's path template
    method: str
    operation_id: str
    node: dict[str, Any]  # the raw operation object
    path_item: dict[str, Any]
    variables: dict[str, str]


def _find(loaded: _Loaded, request: _Request) -> _Operation:
    try:
        path, _operation, _server, path_result, _server_result = loaded.finder.find(
            request.method, request.full_url
        )
    except OperationNotFound as exc:
        raise AssertionError(
            f"{loaded.name}: {request.method.upper()} {request.path} — the spec has this path but not this "
            f"method ({exc})"
        ) from None
    except PathError:
        raise AssertionError(
            f"{loaded.name}: {request.method.upper()} {request.path} — no such path in the spec"
        ) from None
    template = path.parts[-1]
    item = loaded.raw["paths"][template]
    node = item[request.method]
    return _Operation(
        path=str(template),
        method=request.method,
        operation_id=str(node.get("operationId", f"{request.method.upper()} {template}")),
        node=node,
        path_item=item,
        variables=dict(path_result.variables),
    )


def operation_for(vendor: str, method: str, url: str) -> str:
    """The ``operationId`` of the spec operation that ``method url`` calls."""
    loaded = _load(vendor)
    return _find(loaded, _Request(loaded, method, url, {}, None)).operation_id


# ---------------------------------------------------------------------- validating


def validate_request(vendor: str, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
    """Fail with ``AssertionError`` unless the request is one the vendor's spec allows."""
    loaded = _load(vendor)
    request = _Request(loaded, method, url, headers, body)
    operation = _find(loaded, request)
    if loaded.vendor.bracket_forms:
        problems = list(_bracket_request_problems(loaded, request, operation))
    else:
        problems = [line for error in loaded.app.iter_request_errors(request) for line in _describe(error)]
    _raise(loaded, "request", request, operation, problems)


def validate_response(
    vendor: str,
    method: str,
    url: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    request_headers: Mapping[str, str] | None = None,
    request_body: bytes | None = None,
) -> None:
    """Fail with ``AssertionError`` unless the response is one the spec declares for the call.

    The request's headers and body are used only to locate the operation; they are not
    validated here (use ``validate_request``).
    """
    loaded = _load(vendor)
    request = _Request(loaded, method, url, request_headers or {}, request_body)
    operation = _find(loaded, request)
    response = _Response(status, headers, body)
    problems = [
        line for error in loaded.app.iter_response_errors(request, response) for line in _describe(error)
    ]
    _raise(loaded, f"response {status}", request, operation, problems)


def _raise(loaded: _Loaded, what: str, request: _Request, operation: _Operation, problems: list[str]) -> None:
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise AssertionError(
            f"{loaded.name} {operation.operation_id} ({operation.method.upper()} {operation.path}): "
            f"{what} breaks the spec:\n{lines}"
        )


def _describe(error: BaseException) -> list[str]:
    """Readable lines for an openapi-core error, one per schema error behind it."""
    if isinstance(error, ParameterValidationError):
        where = f"{error.location} parameter {error.name}"
    elif isinstance(error, HeaderValidationError):
        where = f"header {error.name}"
    elif isinstance(error, RequestBodyValidationError | DataValidationError):
        where = "body"
    else:
        where = type(error).__name__
    chain = [error]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    for cause in chain:
        if isinstance(cause, InvalidSchemaValue):
            lines = [_schema_error(e, where) for e in cause.schema_errors if isinstance(e, SchemaError)]
            return lines or [f"{where}: {cause}"]
    return [f"{where}: {chain[-1]}"]


_MAX_MESSAGE = 300


def _schema_error(error: SchemaError, prefix: str) -> str:
    where = prefix + "".join(
        f"[{part!r}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    )
    message = error.message
    if error.context:
        # anyOf / oneOf: say why the closest alternative failed instead of echoing the value
        best = min(error.context, key=lambda e: (-len(e.absolute_path), len(e.message)))
        message = f"matches no alternative of {error.validator} (closest: {_schema_error(best, prefix)})"
    elif len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return f"{where}: {message}"


# ------------------------------------------------------------ Stripe-style brackets


class FormDecodeError(ValueError):
    """A key in bracket notation that cannot be decoded."""


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode_brackets(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0]=x&c[]=y&c[]=z`` → ``{"a": {"b": {"0": "x"}}, "c": ["y", "z"]}``.

    Indexed keys stay dict keys here; ``coerce`` turns them into lists where the
    schema wants an array. A key set twice, or used both as a value and a container,
    is an error.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise FormDecodeError(f"malformed key {key!r}")
        parts = [match.group(1), *_PART.findall(match.group(2))]
        node: Any = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if part != "" and not last:
                    raise FormDecodeError(f"key {key!r} mixes [] with named keys")
                if last:
                    node.append(value)
                    break
                raise FormDecodeError(f"key {key!r} nests below []")
            if part == "":
                raise FormDecodeError(f"key {key!r} has [] where a name is needed")
            if last:
                if part in node:
                    raise FormDecodeError(f"key {key!r} is given twice")
                node[part] = value
                break
            child = node.get(part)
            want_list = parts[depth + 1] == ""
            if child is None:
                child = [] if want_list else {}
                node[part] = child
            elif isinstance(child, str) or isinstance(child, list) != want_list:
                raise FormDecodeError(f"key {key!r} conflicts with an earlier key")
            node = child
    return root


def _resolve(raw: dict[str, Any], schema: Any) -> Any:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise AssertionError(f"unsupported reference {ref!r}")
        node: Any = raw
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
        seen += 1
        if seen > 50:
            raise AssertionError(f"reference loop at {ref}")
    return schema


def coerce(raw: dict[str, Any], value: Any, schema: Any) -> Any:
    """Form strings → the JSON types ``schema`` describes (where they parse); rest unchanged."""
    schema = _resolve(raw, schema)
    if not isinstance(schema, dict):
        return value
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for branch in schema[key]:
                candidate = coerce(raw, value, branch)
                if _fits(raw, candidate, branch):
                    return candidate
            return value
    for branch in schema.get("allOf", ()):
        value = coerce(raw, value, branch)
    kind = schema.get("type")
    if kind == "array" or (kind is None and "items" in schema):
        if isinstance(value, dict) and value and all(k.isdigit() for k in value):
            value = [value[k] for k in sorted(value, key=int)]
        if isinstance(value, list):
            return [coerce(raw, item, schema.get("items", {})) for item in value]
        return value
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: coerce(raw, v, properties[k])
            if k in properties
            else coerce(raw, v, extra)
            if isinstance(extra, dict)
            else v
            for k, v in value.items()
        }
    if isinstance(value, str):
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            return int(value)
        if kind == "number" and re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value):
            number = float(value)
            return (
                int(number)
                if number.is_integer() and "." not in value and "e" not in value.lower()
                else number
            )
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    return value


def _fits(raw: dict[str, Any], value: Any, schema: Any) -> bool:
    """A shallow type match, to choose an ``anyOf`` branch; full validation comes after."""
    schema = _resolve(raw, schema)
    if not isinstance(schema, dict):
        return True
    if "enum" in schema:
        return value in schema["enum"]
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list):
        return any(_fits(raw, value, branch) for branch in branches)
    kind = schema.get("type")
    checks: dict[str, bool] = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }
    if kind is None:
        return not isinstance(value, dict) or "properties" in schema or "additionalProperties" in schema
    return checks.get(kind, True)


@cache
def _security_validator(vendor: str) -> APICallRequestSecurityValidator:
    loaded = _load(vendor)
    return _validator_classes(loaded)[0](loaded.app.spec)


@cache
def _body_validator(vendor: str) -> APICallRequestBodyValidator:
    loaded = _load(vendor)
    return _validator_classes(loaded)[1](loaded.app.spec)


def _validator_classes(
    loaded: _Loaded,
) -> tuple[type[APICallRequestSecurityValidator], type[APICallRequestBodyValidator]]:
    version = loaded.raw["openapi"]
    if version.startswith("3.0"):
        return V30RequestSecurityValidator, V30RequestBodyValidator
    if version.startswith("3.1"):
        return V31RequestSecurityValidator, V31RequestBodyValidator
    return V32RequestSecurityValidator, V32RequestBodyValidator


def _schema_problems(loaded: _Loaded, schema_path: SchemaPath, value: Any, prefix: str) -> list[str]:
    validator = oas30_write_schema_validators_factory.create(loaded.app.spec, schema_path)
    try:
        validator.validate(value)
    except InvalidSchemaValue as exc:
        return [_schema_error(e, prefix) for e in exc.schema_errors if isinstance(e, SchemaError)]
    return []


def _bracket_request_problems(loaded: _Loaded, request: _Request, operation: _Operation) -> Iterator[str]:
    raw = loaded.raw
    spec_op = loaded.app.spec / "paths" / operation.path / operation.method

    # security: openapi-core's own check (Authorization header against the schemes)
    for error in _security_validator(loaded.name).iter_errors(request):
        yield from _describe(error)

    # parameters: path and query (Stripe declares no header or cookie parameters)
    declared = [*operation.path_item.get("parameters", []), *operation.node.get("parameters", [])]
    try:
        query = decode_brackets(request.query_pairs)
    except FormDecodeError as exc:
        yield f"query string: {exc}"
        query = {}
    known_query: set[str] = set()
    for index, declared_parameter in enumerate(declared):
        parameter = _resolve(raw, declared_parameter)
        name, location = parameter["name"], parameter["in"]
        source: Mapping[str, Any]
        if location == "query":
            known_query.add(name)
            source = query
        elif location == "path":
            source = operation.variables
        else:
            continue
        if name not in source:
            if parameter.get("required"):
                yield f"{location} parameter {name}: required but missing"
            continue
        value = coerce(raw, source[name], parameter.get("schema", {}))
        in_item = index < len(operation.path_item.get("parameters", []))
        base = loaded.app.spec / "paths" / operation.path
        param_path = (base if in_item else spec_op) / "parameters"
        position = index if in_item else index - len(operation.path_item.get("parameters", []))
        yield from _schema_problems(loaded, param_path / position / "schema", value, f"{location} {name}")
    for name in sorted(set(query) - known_query):
        yield f"query parameter {name}: not a parameter of this operation"

    # body
    body_spec = operation.node.get("requestBody")
    has_body = bool(request.body)
    if body_spec is None:
        if has_body:
            yield "body: this operation takes no body"
        return
    content = _resolve(raw, body_spec).get("content", {})
    media = request.content_type.split(";", 1)[0].strip()
    if not has_body:
        if _resolve(raw, body_spec).get("required"):
            yield "body: required but missing"
        return
    if media not in content:
        yield f"body: content type {media or '(none)'!r} not one of {sorted(content)}"
        return
    assert request.body is not None
    if media != FORM:
        # not a form: openapi-core judges the body
        for error in _body_validator(loaded.name).iter_errors(request):
            yield from _describe(error)
        return
    try:
        text = request.body.decode("utf-8")
        decoded = decode_brackets(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError) as exc:
        yield f"body: not a form ({exc})"
        return
    schema = content[FORM].get("schema", {})
    value = coerce(raw, decoded, schema)
    schema_path = spec_op / "requestBody" / "content" / FORM / "schema"
    yield from _schema_problems(loaded, schema_path, value, "body")
