"""Business content of a record, for "same key, same content?" decisions.

Bookkeeping that legitimately differs between two sends of the same record is left
out: cross-reference ids (filled in as the workflow goes), the source version, the
canonical id (a replay may mint another) and the lifecycle status.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_BOOKKEEPING_EVERYWHERE = frozenset({"external_ids", "source_version"})
_BOOKKEEPING_AT_TOP = frozenset({"id", "status"})


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _BOOKKEEPING_EVERYWHERE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def content_of(model: BaseModel, **extra: Any) -> dict[str, Any]:
    """The record's business fields as JSON values, plus ``extra`` (e.g. the template)."""
    dumped = _strip(model.model_dump(mode="json"))
    return {k: v for k, v in dumped.items() if k not in _BOOKKEEPING_AT_TOP} | extra


def differing_fields(existing: dict[str, Any], requested: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in existing.keys() | requested.keys() if existing.get(k) != requested.get(k)))
