"""Run one code cell in a fresh Jupyter kernel and record what a notebook would receive."""
from __future__ import annotations

import queue
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client import KernelManager

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CellRun:
    stdout: str = ""
    stderr: str = ""
    svg_displays: int = 0  # display messages carrying an SVG figure (the live plot's redraws)
    svg_bytes: int = 0
    clear_outputs: int = 0
    last_svg: str | None = None
    error: str | None = None
    mime_types: dict[str, int] = field(default_factory=dict)


def run_cell(code: str, cwd: Path, timeout: float, echo_prefix: str = "    | ") -> CellRun:
    """Execute ``code`` in a new python3 kernel started in ``cwd``; shut it down afterwards.

    Every iopub message is consumed as it arrives, as a notebook front end would: a kernel
    whose messages nobody reads would not be the kernel the book runs in. Stream output is
    echoed live so that a long trial shows it is alive.
    """
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(cwd))
    kc = km.client()
    kc.start_channels()
    run = CellRun()
    try:
        kc.wait_for_ready(timeout=120)
        msg_id = kc.execute(code, store_history=False)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the cell did not finish within {timeout:.0f} s")
            try:
                msg = kc.get_iopub_msg(timeout=min(remaining, 60))
            except queue.Empty:
                if not km.is_alive():
                    raise RuntimeError("the kernel died") from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                text = content["text"]
                if content["name"] == "stdout":
                    run.stdout += text
                else:
                    run.stderr += text
                for line in text.splitlines():
                    print(echo_prefix + line, flush=True)
            elif kind in ("display_data", "update_display_data", "execute_result"):
                for mime in content["data"]:
                    run.mime_types[mime] = run.mime_types.get(mime, 0) + 1
                svg = content["data"].get("image/svg+xml")
                if svg is not None:
                    run.svg_displays += 1
                    run.svg_bytes += len(svg)
                    run.last_svg = svg
            elif kind == "clear_output":
                run.clear_outputs += 1
            elif kind == "error":
                run.error = _ANSI.sub("", "\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                break
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    if run.error:
        print(run.error, file=sys.stderr)
    return run
