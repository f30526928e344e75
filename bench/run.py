"""`make bench`: run every benchmark under bench/ and print its figures.

Benchmarks are not part of the test suite. Each records ratios measured in one run against a
raw-SQL floor, because this 2-core machine is noisy.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    sys.path.insert(0, str(HERE))  # the benches share benchlib.py
    names = sys.argv[1:] or sorted(p.stem for p in HERE.glob("bench_*.py"))
    for name in names:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # Strawberry types in a bench resolve annotations through it
        spec.loader.exec_module(module)
        print(f"== {name}")
        asyncio.run(module.main())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
