"""Every test under tests/peers runs a real external program: marked ``peer`` here, once."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/peers/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.peer)
