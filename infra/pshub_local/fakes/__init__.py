"""Vendor-faithful HTTP fakes served on 127.0.0.1: what the local runtime and the tests call.

Each platform's fake lives in ``pshub_local.platforms.<vendor>.fake`` and builds on
``FakeApi`` here: routes by method and path, the vendor's auth refused the vendor's
way, a declared rate answered with the vendor's 429, injected faults (a status and
body before the work, or the work done and the connection dropped: a lost answer)
and outages, and a log of every request and response for contract tests. Nothing
here is in the production layer.
"""

from pshub_local.fakes.server import (
    CallRecord,
    Exchange,
    FakeApi,
    FakeRequest,
    FakeResponse,
    VendorFault,
    route,
)

__all__ = ["CallRecord", "Exchange", "FakeApi", "FakeRequest", "FakeResponse", "VendorFault", "route"]
