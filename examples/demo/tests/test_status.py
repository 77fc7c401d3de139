import json

import pytest

from demo_service.status import status


@pytest.mark.gate(severity="critical")
def test_status_reports_down_services():
    out = json.loads(status({"db": True, "cache": False}))
    assert out == {"up": ["db"], "down": ["cache"], "healthy": False}


def test_status_all_up():
    assert json.loads(status({"db": True}))["healthy"] is True


@pytest.mark.gate(severity="minor")
def test_status_is_sorted():
    assert json.loads(status({"b": True, "a": True}))["up"] == ["a", "b"]
