"""Benchmark: generate a synthetic region and print elapsed time, peak memory and the counts.

    .venv/bin/python bench/region_generate.py                 # scale 1.0 into a temporary directory
    .venv/bin/python bench/region_generate.py --scale 0.1 --out var/region --seed 3

Budget at scale 1.0 (the reference region): under 60 s and under 2 GiB peak RSS. The numbers are
printed, never asserted: timing depends on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from iam.region import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="region size (default 1.0)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory to keep (default: a temporary directory, removed afterwards)")
    args = parser.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="region-bench-"))
    try:
        started = time.perf_counter()
        summary = generate(out, scale=args.scale, seed=args.seed)
        elapsed = time.perf_counter() - started
        size = sum(p.stat().st_size for p in out.iterdir())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    # ru_maxrss is in KiB on Linux (bytes on macOS); this benchmark targets the Linux CI machine.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scale {args.scale:g}, seed {args.seed}: {elapsed:.1f} s, peak RSS {peak_mib:.0f} MiB, "
          f"{size / 2**20:.0f} MiB written")
    print(json.dumps(summary.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
