"""These tests talk HTTP to the NetSuite fake on 127.0.0.1; every other address stays refused."""

from __future__ import annotations
