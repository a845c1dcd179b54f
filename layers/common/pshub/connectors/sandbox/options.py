"""Connection options a sandbox reads, parsed once and checked like real configuration.

- ``project_code_pattern``: regex every project code must match (ERP, PSA).
- ``closed_periods_through``: ISO date; postings dated on or before it are refused (ERP).
- ``templates``: ``service_line=TEMPLATE,...`` project templates (PSA).
- ``default_currency``: project currency when a project has no budget (PSA); USD.
- ``rate_limit_per_s`` / ``rate_limit_burst``: token bucket refill rate and size.
- ``max_batch``: most time entries one posting call accepts (ERP); 100.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from pshub.connections import Connection, ConnectionConfigError

# Generous defaults: a workflow run never hits them; tests and demos lower them.
DEFAULT_RATE_PER_S = 25.0
DEFAULT_BURST = 50
DEFAULT_MAX_BATCH = 100


@dataclass(frozen=True)
class SandboxOptions:
    project_code_pattern: re.Pattern[str] | None = None
    closed_periods_through: date | None = None
    templates: dict[str, str] = field(default_factory=dict)
    default_currency: str = "USD"
    rate_limit_per_s: float = DEFAULT_RATE_PER_S
    rate_limit_burst: int = DEFAULT_BURST
    max_batch: int = DEFAULT_MAX_BATCH

    @classmethod
    def of(cls, connection: Connection) -> SandboxOptions:
        options = connection.options

        def bad(name: str, why: str) -> ConnectionConfigError:
            return ConnectionConfigError(f"connection {connection.id!r} option {name}: {why}")

        pattern = None
        if "project_code_pattern" in options:
            try:
                pattern = re.compile(options["project_code_pattern"])
            except re.error as exc:
                raise bad("project_code_pattern", f"not a regular expression ({exc})") from None
        closed = None
        if "closed_periods_through" in options:
            try:
                closed = date.fromisoformat(options["closed_periods_through"])
            except ValueError:
                raise bad("closed_periods_through", "not an ISO date (YYYY-MM-DD)") from None
        templates: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in options.get("templates", "").split(","))):
            service_line, sep, template = (s.strip() for s in pair.partition("="))
            if not sep or not service_line or not template:
                raise bad("templates", f"{pair!r} is not service_line=TEMPLATE")
            templates[service_line] = template

        def number(name: str, default: float) -> float:
            try:
                value = float(options.get(name, default))
            except ValueError:
                raise bad(name, "not a number") from None
            if value <= 0:
                raise bad(name, "must be positive")
            return value

        return cls(
            project_code_pattern=pattern,
            closed_periods_through=closed,
            templates=templates,
            default_currency=options.get("default_currency", "USD").upper(),
            rate_limit_per_s=number("rate_limit_per_s", DEFAULT_RATE_PER_S),
            rate_limit_burst=max(1, int(number("rate_limit_burst", DEFAULT_BURST))),
            max_batch=int(number("max_batch", DEFAULT_MAX_BATCH)),
        )
