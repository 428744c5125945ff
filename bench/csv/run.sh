#!/usr/bin/env bash
# dbserve-query --csv --dry-run against plain Python (csv + json, bench/csv/shape.py) on the
# same file, side by side in one hyperfine run, as whole processes; then the peak memory of
# each (/usr/bin/time -v). Both print the same body (checked first).
# Usage: bench/csv/run.sh [path to dbserve-query] [rows, default 15000] [columns, default 32]
# DBSERVE_QUERY_BEFORE=<another dbserve-query> adds that build to the run (before/after).
# Without a path, builds dbserve-query (Release, curl transport) in build/bench-csv.
# Needs hyperfine (apt-get install -y hyperfine) and GNU time (/usr/bin/time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../common.sh"
tool=${1:-}
rows=${2:-15000}
cols=${3:-32}
if [[ -z $tool ]]; then
  build=${DBSERVE_BENCH_BUILD_DIR:-$bench_root/build/bench-csv}
  cmake -S "$bench_root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBSERVE_BUILD_EXAMPLES=ON \
    -DDBSERVE_CURL=ON -DDBSERVE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" --target dbserve-query -j 2
  tool=$build/examples/dbserve-query/dbserve-query
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
csv=$work/table.csv
python3 "$here/make_csv.py" "$csv" "$rows" "$cols"
echo "CSV: $rows rows x $cols columns of random doubles, $(stat -c %s "$csv") bytes"

# The dry run needs no network and no secret: placeholders stand in for what it would fetch.
export DATABRICKS_CLIENT_ID=bench DATABRICKS_CLIENT_SECRET=bench
dry=(--host https://adb-1.azuredatabricks.net --endpoint bench --dry-run)
for form in split records; do
  "$tool" "${dry[@]}" --csv "$csv" --format "$form" | tail -n 1 >"$work/tool.$form"
  python3 "$here/shape.py" "$csv" "$form" >"$work/python.$form"
  cmp -s "$work/tool.$form" "$work/python.$form" || { echo "$form: the bodies differ" >&2; exit 1; }
  echo "$form body: $(stat -c %s "$work/tool.$form") bytes, the same from both"
done

for form in split records; do
  hyperfine -N --warmup 2 --runs "${DBSERVE_BENCH_RUNS:-15}" --export-json "$work/$form.json" \
    -n "dbserve-query $form" "$tool ${dry[*]} --csv $csv --format $form" \
    -n "python $form" "python3 $here/shape.py $csv $form" \
    ${DBSERVE_QUERY_BEFORE:+-n "before $form" "$DBSERVE_QUERY_BEFORE ${dry[*]} --csv $csv --format $form"}
  python3 - "$work/$form.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
tool = next(v for k, v in r.items() if k.startswith("dbserve-query"))
py = next(v for k, v in r.items() if k.startswith("python"))
before = [v for k, v in r.items() if k.startswith("before")]
if before:
    print(f"median: before {before[0]['median']*1e3:.1f} ms (user {before[0]['user']*1e3:.1f} ms); "
          f"before / dbserve-query = {before[0]['median']/tool['median']:.1f}x")
print(f"median: dbserve-query {tool['median']*1e3:.1f} ms (user {tool['user']*1e3:.1f} ms), "
      f"python {py['median']*1e3:.1f} ms (user {py['user']*1e3:.1f} ms); "
      f"python / dbserve-query = {py['median']/tool['median']:.1f}x")
PY
  for side in tool python; do
    if [[ $side == tool ]]; then cmd=("$tool" "${dry[@]}" --csv "$csv" --format "$form")
    else cmd=(python3 "$here/shape.py" "$csv" "$form"); fi
    peak=$(/usr/bin/time -v "${cmd[@]}" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}')
    echo "$form peak RSS, $side: $peak KB"
  done
done
