"""What a platform package declares about itself: the one place the core learns of a vendor.

Each ``pshub.platforms.<vendor>`` package defines ``PLATFORM = Platform(...)`` in its
``__init__``; ``pshub.platforms.platform(name)`` reads it. The core (pipeline, sync,
workflows, stores) asks the manifest, never names a vendor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Inbound = Literal["webhook", "poll"]


@dataclass(frozen=True)
class Platform:
    name: str  # the package name, and what a connection's ``platform`` says
    title: str  # how people call it: "Oracle NetSuite"
    roles: frozenset[str]  # the roles a connection to it may play (crm, erp, psa, billing, ...)
    # How changes come in: pushed to POST /webhooks/{connection}, polled, or not at all (yet).
    inbound: Inbound | None = None
    adapter: str | None = None  # "module:Class" of its inbound adapter, imported when first needed
    # Object type -> the platform's own property name -> the canonical attribute it carries,
    # for events whose payload holds native properties (an opportunity's changed fields).
    native_attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Role -> "module:function" building its outbound connector over HTTP
    # (``function(connection, context: pshub.connectors.http.ConnectorContext)``).
    outbound: Mapping[str, str] = field(default_factory=dict)
    # The vendor's published limits for posting to it (``max_concurrency``, ``max_batch``,
    # ``rate_per_s``, ``burst``, ``daily_quota``), as connection option strings: a
    # connection's own options override them (``pshub.workflows.time_expense.limits``).
    limits: Mapping[str, str] = field(default_factory=dict)
    # A polled platform's change feed: how many days back it still answers (an events feed such
    # as Kantata's Subscribed Events keeps 9 days); None when the feed is a query by modification
    # time, which reaches any age (Kantata's and Harvest's connectors read ``updated_after`` /
    # ``updated_since``). The poller's coverage alarm sounds at half of it, or after a day
    # unread when there is none (``pshub.kpis.poll_coverage_limit_s``).
    feed_retention_days: float | None = None
