#!/usr/bin/env python3
"""Writes the benchmark CSV: a header row, then ROWS rows of COLS random doubles."""
import random
import sys

rows = int(sys.argv[2]) if len(sys.argv) > 2 else 15000
cols = int(sys.argv[3]) if len(sys.argv) > 3 else 32
rng = random.Random(42)
with open(sys.argv[1], "w", newline="") as f:
    f.write(",".join(f"f{c}" for c in range(cols)) + "\n")
    for _ in range(rows):
        f.write(",".join(repr(rng.uniform(-1e3, 1e3)) for _ in range(cols)) + "\n")
