"""Construct ids derived from topology keys (``raw_deliveries`` -> ``RawDeliveries``)."""

from __future__ import annotations


def pascal_id(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))
