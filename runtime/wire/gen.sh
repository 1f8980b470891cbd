#!/usr/bin/env bash
# Regenerates runtime/wire/wirepb from runtime/wire/wirepb/runtime.proto.
# Run from anywhere: bash runtime/wire/gen.sh (or go generate ./runtime/wire).
# Needs protoc, protoc-gen-go and protoc-gen-go-grpc (looked up on PATH, then
# in $(go env GOPATH)/bin).
set -euo pipefail
cd "$(dirname "$0")/wirepb"
PATH="$PATH:$(go env GOPATH)/bin"
protoc -I . \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	runtime.proto
