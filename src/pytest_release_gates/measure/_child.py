"""The driver that runs inside Valgrind (private; see ``instructions.py``).

The parent sends this file's *source* with the call to count, and the child
runs it with ``exec``: nothing of pytest-release-gates is imported in the
counted process, so under ``--gate-compare-ref`` a side whose code is this
plugin itself at another revision still gets this driver. Standard library
only.

The counted part: ``warmup`` calls through the same loop (so the loop's own
bytecode is warm too), then, with the garbage collector off, ``batches``
rounds of an empty batch and a batch of calls, each closed by a call to the
marker ``os.ctermid()`` (``valgrind --dump-before=ctermid``: a libc function
nothing else here calls). Each marker makes Callgrind write the instructions
since the previous one to a file of its own; the parent subtracts the empty
batches (the loop and marker overhead) and divides by the calls.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import sys
from typing import Any

#: Callgrind's client requests (valgrind.h, callgrind.h).
_RUNNING_ON_VALGRIND = 0x1001
_START_INSTRUMENTATION = ((ord("C") << 24) | (ord("T") << 16)) + 4
#: x86-64: ``rax = rdi; rdx = 0; <Valgrind's magic preamble>; xchg rbx, rbx; return rdx`` (valgrind.h's
#: client-request sequence for amd64 as a function taking the request block in rdi). Natively a no-op: 0.
_AMD64_REQUEST = bytes.fromhex("4889f831d248c1c70348c1c70d48c1c73d48c1c7334887db4889d0c3")


def _client_request() -> Any:
    """A callable ``request(code) -> int`` issuing a Valgrind client request, or None where it cannot."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64") or sys.platform != "linux":
        return None
    try:
        import ctypes
        import mmap

        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(_AMD64_REQUEST)
        address = ctypes.addressof(ctypes.c_char.from_buffer(page))
        call = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p)(address)
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    block_type = ctypes.c_size_t * 6

    def request(code: int) -> int:
        block = block_type(code, 0, 0, 0, 0, 0)
        return int(call(ctypes.addressof(block)))

    request.keep = (page, call)  # type: ignore[attr-defined]  # the page must outlive the function
    return request


def main(payload: dict[str, Any]) -> None:
    result_path = payload["result"]

    def finish(data: dict[str, Any]) -> None:
        with open(result_path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # no interpreter shutdown under Valgrind: it costs seconds and counts nothing

    sys.path[:] = payload["path"]
    try:
        func, args, kwargs = pickle.loads(payload["call"])
    except BaseException as exc:  # the call's module does not import here: the test's to fix
        finish({"error": "import", "message": f"{type(exc).__name__}: {exc}"})
        return
    calls, batches, warmup = int(payload["calls"]), int(payload["batches"]), int(payload["warmup"])
    sizes = [calls * (k + 1) // batches - calls * k // batches for k in range(batches)]

    def batch(n: int) -> None:  # one loop for warmup and counting, so its bytecode is as warm as the call's
        for _ in range(n):
            func(*args, **kwargs)

    late = bool(payload.get("late"))
    request = _client_request()  # made either way, so both ways leave the same memory layout behind
    mark = os.ctermid
    try:
        batch(warmup)
        if late:
            if request is None or not request(_RUNNING_ON_VALGRIND):
                finish({"error": "late", "message": "cannot start Callgrind's instrumentation from Python here"})
                return
            request(_START_INSTRUMENTATION)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        mark()
        for n in sizes:
            batch(0)
            mark()
            batch(n)
            mark()
        if gc_was_enabled:
            gc.enable()
    except BaseException as exc:  # the function failed: the test's to fix
        finish({"error": "call", "message": f"{type(exc).__name__}: {exc}"})
        return
    finish({"sizes": sizes})
