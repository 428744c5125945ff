#!/usr/bin/env bash
# Starts the dbserve emulator in the background, waits for its JSON line and writes it to a
# file; or stops it. See README.md, "The emulator".
#
#   scripts/emulator.sh start [--dir DIR] [-- emulator options...]
#       prints the JSON line; leaves DIR/emulator.json (the line), DIR/emulator.env (shell
#       assignments: . DIR/emulator.env), DIR/emulator.pid, DIR/state/ca.pem
#   scripts/emulator.sh stop [--dir DIR]
#   scripts/emulator.sh status [--dir DIR]
#
# DIR defaults to build/emulator-run. The binary is $DBSERVE_EMULATOR when set, else the newest
# dbserve-emulator found under build*/, else it is built into build/emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

command=${1:-}
[ -n "$command" ] && shift
dir=build/emulator-run
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "emulator.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
pid_file=$dir/emulator.pid

running_pid() {
    [ -f "$pid_file" ] || return 1
    local pid
    pid=$(cat "$pid_file")
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

find_binary() {
    if [ -n "${DBSERVE_EMULATOR:-}" ]; then echo "$DBSERVE_EMULATOR"; return; fi
    local found
    found=$(find build* -type f -name dbserve-emulator -perm -u+x -printf '%T@ %p\n' 2>/dev/null |
        sort -rn | head -n 1 | cut -d' ' -f2- || true)
    if [ -z "$found" ]; then
        cmake -S . -B build/emulator -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDBSERVE_BUILD_TESTS=ON >&2
        cmake --build build/emulator --target dbserve-emulator -j "${DBSERVE_JOBS:-2}" >&2
        found=build/emulator/tests/emulator/dbserve-emulator
    fi
    echo "$found"
}

case "$command" in
    start)
        if pid=$(running_pid); then
            echo "emulator.sh: already running (pid $pid); stop it first" >&2
            exit 1
        fi
        binary=$(find_binary)
        mkdir -p "$dir"
        rm -f "$dir/emulator.json" "$dir/emulator.env"
        setsid "$binary" --state-dir "$dir/state" --info-file "$dir/emulator.json" --env-file "$dir/emulator.env" \
            "${extra[@]+"${extra[@]}"}" </dev/null >"$dir/emulator.stdout" 2>"$dir/emulator.stderr" &
        pid=$!
        echo "$pid" >"$pid_file"
        for _ in $(seq 1 300); do
            [ -s "$dir/emulator.json" ] && [ -s "$dir/emulator.env" ] && break
            if ! kill -0 "$pid" 2>/dev/null; then
                cat "$dir/emulator.stderr" >&2
                echo "emulator.sh: the emulator exited at start" >&2
                rm -f "$pid_file"
                exit 1
            fi
            sleep 0.1
        done
        if [ ! -s "$dir/emulator.json" ]; then
            echo "emulator.sh: no JSON line after 30 s" >&2
            kill "$pid" 2>/dev/null || true
            exit 1
        fi
        cat "$dir/emulator.json"
        ;;
    stop)
        if pid=$(running_pid); then
            kill -TERM "$pid"
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
        rm -f "$pid_file"
        ;;
    status)
        if pid=$(running_pid); then echo "running (pid $pid): $dir/emulator.json"; else echo "not running"; exit 1; fi
        ;;
    *)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
