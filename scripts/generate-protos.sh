#!/usr/bin/env bash
# Regenerates Sources/EnvoyAPI/Generated/ from Protos/ with protoc and protoc-gen-swift.
# The plugin is built from the swift-protobuf version Package.swift pins (exact: "1.39.0"),
# in its own scratch dir (.build-tools) so it never disturbs .build.
set -euo pipefail

cd "$(dirname "$0")/.."

SWIFT="${SWIFT:-swift}"
PROTOC="${PROTOC:-protoc}"
TOOLS_DIR="${TOOLS_DIR:-.build-tools}"
PLUGIN="$TOOLS_DIR/release/protoc-gen-swift"
GEN_DIR="Sources/EnvoyAPI/Generated"
# Well-known types (google/protobuf/*.proto) ship with protobuf-compiler / libprotobuf-dev.
WKT_INCLUDE="${WKT_INCLUDE:-/usr/include}"

command -v "$PROTOC" >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }
[ -f "$WKT_INCLUDE/google/protobuf/any.proto" ] || { echo "well-known types not found in $WKT_INCLUDE (set WKT_INCLUDE)" >&2; exit 1; }

if [ ! -x "$PLUGIN" ] || [ Package.swift -nt "$PLUGIN" ]; then
  "$SWIFT" build -c release --product protoc-gen-swift --scratch-path "$TOOLS_DIR"
fi

PROTO_FILES=()
while IFS= read -r f; do PROTO_FILES+=("${f#Protos/}"); done < <(find Protos -name '*.proto' | LC_ALL=C sort)

rm -rf "$GEN_DIR"
mkdir -p "$GEN_DIR"
"$PROTOC" -I Protos -I "$WKT_INCLUDE" --plugin=protoc-gen-swift="$PLUGIN" \
  --swift_out="$GEN_DIR" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  "${PROTO_FILES[@]}"

echo "generated $(find "$GEN_DIR" -name '*.swift' | wc -l | tr -d ' ') files in $GEN_DIR"
