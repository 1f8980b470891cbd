// Package api is the HTTP API of berth serve: its OpenAPI 3.1 document
// (openapi.yaml, the single source of truth, embedded here as OpenAPI) and
// the Go types generated from it (api.gen.go: bash gen.sh, or make api).
//
// The server (package server) and the Go client (package client) speak
// these types; their tests check every answer against the document.
package api

//go:generate bash gen.sh
