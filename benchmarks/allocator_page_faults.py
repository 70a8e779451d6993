"""Page faults per step with glibc's malloc as it comes versus ``cnnlib.tune_cpu_allocator``.

A "step" allocates, touches and frees two 40 MB tensors, as a training step does with its
activations. glibc serves blocks above its mmap threshold (at most 32 MB unless told
otherwise) with fresh ``mmap`` pages and unmaps them on ``free``, so every step faults in
about 19,500 new pages (2 x 40 MB / 4 KiB), each zeroed by the kernel. With the thresholds
fixed by ``tune_cpu_allocator`` the freed memory is reused and a step should fault in next
to nothing.

Each run is a fresh process (the setting is process-wide and cannot be undone), tuned and
untuned runs alternate, and the script prints every run's minor page faults per step
(``getrusage``) and the median per mode. This used to be a test, but a count of page faults
depends on what else the machine is doing (on a busy 2-core machine a tuned run measured
anywhere from 0 to 3,418 faults per step), so it is a measurement, run by hand.

    .venv/bin/python benchmarks/allocator_page_faults.py [--runs 5] [--steps 20]

Linux with glibc only: elsewhere ``tune_cpu_allocator`` does nothing and there is nothing
to measure.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import textwrap

PAGES_PER_STEP = 2 * 40_000_000 / 4096  # about 19,500

# Run in a fresh process: argv[1] is "tuned" or "untuned", argv[2] the number of steps.
_CHILD = textwrap.dedent("""
    import resource, sys, torch, cnnlib
    if sys.argv[1] == "tuned":
        assert cnnlib.tune_cpu_allocator() is True
    def step():
        a = torch.ones(10_000_000); b = a * 2; del a, b
    for _ in range(3):  # warm up: imports, first allocations
        step()
    steps = int(sys.argv[2])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        step()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps)
""")


def faults_per_step(mode: str, steps: int) -> float:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(steps)], check=True,
                         capture_output=True, text=True).stdout
    return float(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="fresh processes per mode (default 5)")
    p.add_argument("--steps", type=int, default=20, help="measured steps per process")
    args = p.parse_args(argv)
    if args.runs < 1 or args.steps < 1:
        p.error("--runs and --steps must be >= 1")
    if not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"):
        print("tune_cpu_allocator acts on Linux with glibc only: nothing to measure here")
        return 0

    import cnnlib  # imported here only for the printout; the children import it themselves

    print(f"hardware: {cnnlib.device_name('cpu')}; {args.runs} runs per mode, "
          f"{args.steps} steps each, about {PAGES_PER_STEP:,.0f} pages allocated per step")
    results = {"untuned": [], "tuned": []}
    for run in range(1, args.runs + 1):
        for mode in results:  # alternating, so that drifting load hits both alike
            results[mode].append(faults_per_step(mode, args.steps))
            print(f"  run {run} {mode:8s} {results[mode][-1]:9,.1f} page faults per step", flush=True)
    print()
    for mode, values in results.items():
        median = statistics.median(values)
        print(f"{mode:8s} median {median:9,.1f} page faults per step "
              f"({median / PAGES_PER_STEP:.1%} of the pages allocated; "
              f"range {min(values):,.1f}-{max(values):,.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
