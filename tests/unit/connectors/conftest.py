"""Every connector test starts and ends with no sandboxes in the process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pshub.connectors.registry import reset_sandboxes


@pytest.fixture(autouse=True)
def _fresh_sandboxes() -> Iterator[None]:
    reset_sandboxes()
    yield
    reset_sandboxes()
