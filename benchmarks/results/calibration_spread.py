"""Record of the experiment behind ``perf_calibration``: how much steadier is a calibrated median?

Not a maintained benchmark: kept so the README's figures can be traced. Each of the six workloads of
``benchmarks/regression_accuracy.py`` (at its base size) is measured again and again for ``MINUTES``
minutes, workloads interleaved, by ``perf.measure``'s own timing loop as ``--release-gate`` runs it (100
rounds spread over 1 s, the calibration reference timed before each burst). For each workload it prints
the standard deviation of log(median) over the measurements, of the raw samples and of the calibrated
ones (``Recorder.result``) divided as the gate scales a baseline (by ``cpu * reference + 1 - cpu``, the
reference relative to the first measurement's), and, over all ordered pairs (a baseline and a measurement
at least 20 s later), the share whose ratio exceeds 1.2 (false alarms of a ratio rule at 20%), raw and
calibrated.

    python benchmarks/results/calibration_spread.py 6     # minutes (output in calibration_spread_*.txt)
"""

from __future__ import annotations

import math
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import regression_accuracy as ra  # noqa: E402

from pytest_release_gates.calibration import Recorder  # noqa: E402
from pytest_release_gates.perf import _run  # noqa: E402


def main(minutes: float) -> None:
    names = list(ra.WORKLOADS)
    rows: dict[str, list[tuple[float, ...]]] = {n: [] for n in names}  # (time, raw, adjusted, reference, cpu)
    end = time.time() + minutes * 60
    while time.time() < end or len(rows[names[-1]]) < 2:  # a spread needs two measurements
        for n in names:
            call = ra.inject(ra.WORKLOADS[n][1], 1.0)
            rec = Recorder()
            raw = _run(call, (), {}, 100, 5, span=1.0, calibrate=rec)
            adjusted, cal = rec.result(raw) or (raw, None)
            assert cal is not None
            # The baseline's scaling, as if every measurement were compared with one recorded at speed 1:
            # median / (cpu * reference + 1 - cpu), the reference in units of the first measurement's.
            rows[n].append((time.time(), statistics.median(raw), statistics.median(adjusted), cal.reference, cal.cpu))
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{minutes:g} minutes, load average at the end {__import__('os').getloadavg()[0]:.2f}\n")
    print("| workload | measurements | sd log(median): raw | calibrated | pairs > 1.2x apart: raw | calibrated |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in names:
        r0 = rows[n]
        ref0 = r0[0][3]
        r = [(t, raw, adj / (cpu * ref / ref0 + 1 - cpu)) for t, raw, adj, ref, cpu in r0]
        sd_raw = statistics.stdev(math.log(x[1]) for x in r)
        sd_cal = statistics.stdev(math.log(x[2]) for x in r)
        pairs = [(a, b) for a in r for b in r if b[0] - a[0] >= 20]
        fa_raw = sum(b[1] / a[1] > 1.2 for a, b in pairs) / max(1, len(pairs))
        fa_cal = sum(b[2] / a[2] > 1.2 for a, b in pairs) / max(1, len(pairs))
        print(f"| {n} | {len(r)} | {sd_raw:.3f} | {sd_cal:.3f} | {fa_raw:.1%} | {fa_cal:.1%} |")


if __name__ == "__main__":
    try:
        minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
        if not 0 < minutes <= 600 or len(sys.argv) > 2:
            raise ValueError
    except ValueError:
        raise SystemExit("usage: python benchmarks/results/calibration_spread.py [MINUTES]  "
                         "(a number, 0 < MINUTES <= 600)") from None
    main(minutes)
