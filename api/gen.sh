#!/usr/bin/env bash
# Regenerates api/api.gen.go (the Go types of the API) from api/openapi.yaml
# with oapi-codegen, pinned in api/tools/go.mod. Run from anywhere: bash
# api/gen.sh (or make api, or go generate ./api). With an argument, writes
# there instead (the staleness test compares the two).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/api.gen.go}"
cd "$here/tools"
go tool oapi-codegen -config "$here/oapi-codegen.yaml" -o "$out" "$here/openapi.yaml"
