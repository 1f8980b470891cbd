// Package server is the HTTP API of berth serve (package api describes it):
// it translates between HTTP and a core.Core and holds no policy of its own.
//
// New returns the handler (the API, and the dashboard of package
// dashboard at /); a Hub, made before the core and given to it as
// core.Config.OnEvent, keeps the recent events for GET /v1/events; Listen
// opens the listeners the daemon accepts (a unix socket, or TCP with a
// bearer token and, off the loopback interface, TLS).
//
// Limits: request bodies are capped (413), and so is the number of log and
// event streams open at once (503). A slow reader never holds a job up: a
// job's output is read from the core's log files as the reader goes, and
// an event subscriber that falls behind its bounded buffer is disconnected
// (it resumes with Last-Event-ID).
package server
