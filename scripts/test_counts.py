#!/usr/bin/env python3
"""What one stage of scripts/test.sh ran, counted from CTest's own records.

  test_counts.py result --stage S --junit FILE --tests FILE --expected FILE [--configure-log FILE]
      Counts the stage's tests from CTest's JUnit file (ctest --output-junit): a test passed
      only when it ran and passed; a test skipped (SKIP_RETURN_CODE, SKIP_REGULAR_EXPRESSION)
      or disabled is reported by name as skipped; one that could not run (executable
      missing, failed fixture) failed. Then it compares, label by label, the tests that ran
      with the stage's pinned counts in FILE (tests/expected-counts): every label whose count
      differs is one more failure, with a message naming it and, when the configure log says
      why an area dropped out, that line. Prints its findings, and last a line
      "<passed> <failed> <skipped>" for the caller.

  test_counts.py labels --tests FILE
      Prints "<label> <count>" for the tests in FILE (ctest --show-only=json-v1): the lines
      to pin for one stage.

A test with several labels counts under each; a test without a label counts as "unlabelled".
"""
import argparse
import collections
import json
import re
import sys
import xml.etree.ElementTree as ElementTree


def test_labels(tests_file):
    """{test name: [labels]} from `ctest --show-only=json-v1`."""
    with open(tests_file, encoding="utf-8") as f:
        data = json.load(f)
    labels = {}
    for test in data.get("tests", []):
        found = []
        for prop in test.get("properties", []):
            if prop.get("name") == "LABELS":
                found = list(prop.get("value") or [])
        labels[test["name"]] = found or ["unlabelled"]
    return labels


def count_by_label(names, labels):
    counts = collections.Counter()
    for name in names:
        for label in labels.get(name, ["unlabelled"]):
            counts[label] += 1
    return counts


def read_expected(path, stage):
    expected = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            if len(line) != 3 or not line[2].isdigit():
                sys.exit(f"{path}:{number}: expected '<stage> <label> <count>'")
            if line[0] == stage:
                expected[line[1]] = int(line[2])
    return expected


def configure_notes(path):
    """The configure log's lines about areas left out (a tool or package not found)."""
    if not path:
        return []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    pattern = re.compile(r"not found|skipped|not added|not built|cannot", re.IGNORECASE)
    return [l.lstrip("- ").strip() for l in lines if l.startswith("-- ") and pattern.search(l)]


def why(label, notes):
    words = {label.lower(), label.lower().rstrip("s")}
    if label == "beast":
        words.add("beast adapter")
    if label == "tools":
        words.add("dbserve-query")
    return [n for n in notes if any(w in n.lower() for w in words)]


def result(args):
    labels = test_labels(args.tests)
    expected = read_expected(args.expected, args.stage)
    passed, failed, skipped, could_not_run = [], [], [], []
    root = ElementTree.parse(args.junit).getroot()
    for case in root.iter("testcase"):
        name, status = case.get("name"), case.get("status")
        skip = case.find("skipped")
        reason = skip.get("message", "") if skip is not None else ""
        if status == "run" and case.find("failure") is None:
            passed.append(name)
        elif status == "disabled":
            skipped.append((name, "disabled"))
        elif status == "notrun" and reason.startswith("SKIP_"):
            skipped.append((name, reason))
        elif status == "notrun":
            could_not_run.append((name, reason or "not run"))
        else:
            failed.append(name)
    stage = args.stage
    for name, reason in skipped:
        print(f"stage {stage}: skipped {name} ({reason})")
    for name, reason in could_not_run:
        print(f"stage {stage}: could not run {name} ({reason})")

    ran = count_by_label(passed + failed, labels)
    problems = 0
    if not expected:
        print(f"stage {stage}: no pinned counts in {args.expected}; "
              f"pin them with: bash scripts/test.sh --pin-counts {stage}")
        problems += 1
    notes = configure_notes(args.configure_log)
    for label in sorted(set(expected) | set(ran)):
        want, got = expected.get(label, 0), ran.get(label, 0)
        if want == got:
            continue
        problems += 1
        if got < want:
            message = f"stage {stage}: expected {want} {label} tests, {got} ran"
            reasons = why(label, notes)
            if reasons:
                message += ": " + "; ".join(reasons)
            elif args.configure_log:
                message += f" (what configure found: {args.configure_log})"
        else:
            message = (f"stage {stage}: {got} {label} tests ran, {want} pinned in {args.expected}; "
                       f"if the new tests are meant, pin them: bash scripts/test.sh --pin-counts {stage}")
        print(message)
    print(f"{len(passed)} {len(failed) + len(could_not_run) + problems} {len(skipped)}")


def labels_command(args):
    labels = test_labels(args.tests)
    for label, count in sorted(count_by_label(labels, labels).items()):
        print(f"{label} {count}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("result")
    r.add_argument("--stage", required=True)
    r.add_argument("--junit", required=True)
    r.add_argument("--tests", required=True)
    r.add_argument("--expected", required=True)
    r.add_argument("--configure-log")
    r.set_defaults(run=result)
    l = commands.add_parser("labels")
    l.add_argument("--tests", required=True)
    l.set_defaults(run=labels_command)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
