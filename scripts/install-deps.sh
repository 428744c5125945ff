#!/usr/bin/env bash
# Installs what building and testing dbserve needs on Debian 12. Idempotent: when every
# package is already there it returns in well under a second.
#
# Each test area finds its tools at configure time and drops out without them, so every one
# of them is here (tests/expected-counts then catches an area that still drops out):
#   curl            the curl command: tests/tools (dbserve-query), the emulator smoke test
#   openssl         test certificates: conformance, Beast, e2e, tools, emulator
#   nodejs, npm     the conformance server (tests/conformance/server.js), e2e peers
#   nginx-light     the e2e TLS front for the real OAuth server
#   meson, pkg-config  consumer tests; python3  scripts/test_counts.py
#   clang, libclang-rt-14-dev  the asan, tsan and fuzz stages
set -euo pipefail

packages=(
  cmake ninja-build g++ clang libclang-rt-14-dev pkg-config meson python3
  nlohmann-json3-dev doctest-dev libcurl4-openssl-dev libboost1.81-dev libssl-dev openssl
  libbenchmark-dev rapidjson-dev nginx-light nodejs npm curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node may come from outside Debian's packages: accept any node/npm on the PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The real, independent peers of the end-to-end tests (tests/peers: oidc-provider), pinned by
# the committed lock file. Skipped when node_modules was installed from this very lock file.
peers_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/peers"
if [ -f "$peers_dir/package-lock.json" ] && command -v npm >/dev/null; then
  lock_sum=$(sha256sum "$peers_dir/package-lock.json" | cut -d' ' -f1)
  stamp="$peers_dir/node_modules/.dbserve-lock-sha256"
  if [ ! -d "$peers_dir/node_modules/oidc-provider" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    echo "installing the test peers: npm ci in tests/peers"
    (cd "$peers_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" > "$stamp"
  fi
fi

# The commands the build and the tests look for, found where they look.
not_found=()
for tool in cmake ninja g++ clang++ pkg-config meson python3 openssl curl node npm; do
  command -v "$tool" >/dev/null || not_found+=("$tool")
done
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || not_found+=(nginx)
if [ ${#not_found[@]} -gt 0 ]; then
  echo "install-deps: still not found after installing: ${not_found[*]}" >&2
  exit 1
fi
