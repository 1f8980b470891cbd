package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// OpenAPI is the API's OpenAPI 3.1 document, in YAML, as kept in the
// repository.
//
//go:embed openapi.yaml
var OpenAPI []byte

var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	return json.Marshal(jsonable(doc))
})

// OpenAPIJSON returns the document in JSON (as served at /v1/openapi.json).
func OpenAPIJSON() ([]byte, error) { return openAPIJSON() }

// jsonable turns YAML's maps with keys of any type into maps with string
// keys.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonable(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonable(e)
		}
	}
	return v
}

// Media types of the API besides application/json.
const (
	MediaProblem = "application/problem+json"
	MediaNDJSON  = "application/x-ndjson"
	MediaSSE     = "text/event-stream"
)

// ProblemTypeBase prefixes every problem type: the type of kind k is
// ProblemTypeBase + k. The kinds are the core's error kinds
// (core.ErrorKind) and those below.
const ProblemTypeBase = "https://berth.dev/problems/"

// Problem kinds of the HTTP layer, besides the core's.
const (
	// KindInvalidRequest: a malformed query parameter or body outside a
	// job (a job's own are the core's invalid-job). 400.
	KindInvalidRequest = "invalid-request"
	// KindUnauthorized: no bearer token, or the wrong one. 401.
	KindUnauthorized = "unauthorized"
	// KindMethodNotAllowed: the path exists, the method does not. 405.
	KindMethodNotAllowed = "method-not-allowed"
	// KindBodyTooLarge: the request body is over the daemon's cap. 413.
	KindBodyTooLarge = "body-too-large"
	// KindNotSupported: the operation is not supported (yet). 501.
	KindNotSupported = "not-supported"
	// KindNotReady: the daemon is not ready (yet, or any more). 503.
	KindNotReady = "not-ready"
	// KindTooManyStreams: the cap on open log and event streams is
	// reached. 503, with Retry-After.
	KindTooManyStreams = "too-many-streams"
)

// ProblemType returns the type URI of kind.
func ProblemType(kind string) string { return ProblemTypeBase + kind }

// ProblemKind returns the kind of a problem type URI ("" if it is none of
// berth's).
func ProblemKind(typ string) string {
	kind, ok := strings.CutPrefix(typ, ProblemTypeBase)
	if !ok {
		return ""
	}
	return kind
}
