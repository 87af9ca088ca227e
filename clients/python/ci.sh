#!/usr/bin/env bash
# CI for the Python client: Debian's gRPC and protobuf packages (installed when missing), fresh
# stubs from packages/proto, then the end-to-end test against a real `tidemark node`.
# Run it after `npm ci`, which builds the packages the test starts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
packages=(python3-grpcio python3-grpc-tools python3-protobuf)

if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
fi

if [ ! -f "$root/packages/cli/dist/main.js" ] || [ ! -f "$root/packages/node/dist/index.js" ]; then
  (cd "$root" && npx nx run-many -t build)
fi

# Debian's python3-* packages belong to /usr/bin/python3, not to whatever `python3` is on PATH.
export PYTHON=/usr/bin/python3 PYTHONDONTWRITEBYTECODE=1
"$here/generate.sh"
cd "$here"
exec /usr/bin/python3 test_client.py
