#!/usr/bin/env python3
"""The Python side of bench/csv/run.sh: shapes a CSV file into the same request body as
`dbserve-query --csv FILE [--format split|records]`, with only the standard library's csv
and json modules (orjson is not installable on the benchmark machine), and prints it.

Same rules as the tool for what the csv module can see: empty cell = null, an integer or
a decimal number = a number, anything else a string; NaN or infinity in a column whose
every non-empty cell is a number is refused (exit 2). The csv module does not say whether
a cell was quoted, so a quoted number counts as a number here (the tool keeps it a string).
"""
import csv
import json
import math
import sys


def cell(text):
    if not text:
        return None
    if text.isdigit() or (text[0] in "+-" and text[1:].isdigit()):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def main():
    path = sys.argv[1]
    form = sys.argv[2] if len(sys.argv) > 2 else "split"
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        columns = next(rows)
        data = [[cell(t) for t in row] for row in rows]
    for c, name in enumerate(columns):
        values = [row[c] for row in data if row[c] is not None]
        if all(not isinstance(v, str) for v in values):
            for r, v in enumerate(data):
                if isinstance(v[c], float) and not math.isfinite(v[c]):
                    sys.stderr.write(f"data row {r + 1}, column '{name}': NaN or infinite\n")
                    sys.exit(2)
    if form == "split":
        body = {"dataframe_split": {"columns": columns, "data": data}}
    else:
        body = {"dataframe_records": [dict(zip(columns, row)) for row in data]}
    sys.stdout.write(json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
