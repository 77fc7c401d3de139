"""Runs that never reach the end: whatever kills them, a hold is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import NO_HYPOTHESIS


def _verdict(pytester: pytest.Pytester) -> dict[str, object]:
    return json.loads((pytester.path / ".release-gates" / "verdict.json").read_text())  # type: ignore[no-any-return]


def test_sigterm_mid_run_leaves_incomplete_hold(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile(test_fast="def test_ok(): pass\n")
    assert run_gate().level == "deploy"  # an earlier deploy that must not survive
    pytester.makepyfile(test_slow="import time\ndef test_slow(): time.sleep(600)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--release-gate", "-p", "no:cacheprovider", *NO_HYPOTHESIS],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300  # generous: a loaded machine can take long to start pytest; left early
        while time.monotonic() < deadline:
            try:
                if _verdict(pytester)["complete"] is False:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        proc.kill()
    v = _verdict(pytester)
    assert v["verdict"] == "hold" and v["complete"] is False


def test_timeout_thread_method_os_exit_leaves_hold(pytester: pytest.Pytester, run_gate, run_cli) -> None:
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile("import time\ndef test_hangs(): time.sleep(30)\n")
    r = run_gate("--timeout=1", "--timeout-method=thread")
    assert r.ret != 0
    assert r.verdict["verdict"] == "hold" and r.verdict["complete"] is False
    status = run_cli("status")
    assert status.ret == 1
    assert "did not finish" in status.stdout.str()


def test_crashed_xdist_worker_holds(pytester: pytest.Pytester, run_gate) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile("""
        import os
        def test_a(): pass
        def test_crash(): os._exit(3)
        def test_b(): pass
    """)
    r = run_gate("-n", "2")
    assert r.verdict["complete"] is True
    assert r.level == "hold"
    assert any("crash" in g["message"] for g in r.gates(status="fail"))


@pytest.mark.parametrize("opt", ["--gate-update-baseline", "--gate-verdict=x.json", "--gate-compare-ref=HEAD"])
def test_gate_options_need_release_gate(pytester: pytest.Pytester, run_gate, opt: str) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate(opt, gate=False)
    assert r.ret == 4
    assert f"{opt.split('=')[0]} needs --release-gate" in r.result.stderr.str()
    assert not os.path.exists(pytester.path / ".release-gates")
