#!/usr/bin/env bash
# Generates the Python stubs for tidemark.sync.v1 from packages/proto into clients/python/gen/
# (gitignored). The test also needs gRPC server reflection, whose .proto ships with
# @grpc/reflection in node_modules (a dependency of packages/node).
#
# Needs Debian's python3-grpc-tools (or `pip install grpcio-tools`); PYTHON overrides the
# interpreter, default /usr/bin/python3 (the one Debian's python3-* packages install into).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-/usr/bin/python3}"
out="$here/gen"

rm -rf "$out"
mkdir -p "$out"
"$python" -m grpc_tools.protoc -I "$root/packages/proto/proto" \
  --python_out="$out" --grpc_python_out="$out" \
  tidemark/sync/v1/records.proto tidemark/sync/v1/sync.proto

reflection="$root/node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto"
if [ -f "$reflection" ]; then
  # Compiled as grpc_reflection_v1/reflection.proto so the Python module does not land inside the
  # real `grpc` package's namespace; the wire names (grpc.reflection.v1.*) are unchanged.
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/grpc_reflection_v1"
  cp "$reflection" "$tmp/grpc_reflection_v1/reflection.proto"
  "$python" -m grpc_tools.protoc -I "$tmp" \
    --python_out="$out" --grpc_python_out="$out" grpc_reflection_v1/reflection.proto
else
  echo "generate.sh: $reflection not found (run npm ci);" \
    "reflection stubs skipped, the client works without them" >&2
fi
echo "generate.sh: stubs written to $out"
