// Package client is the Go client of berth serve's HTTP API (package api
// describes it).
//
// Its calls mirror the core's: CreateJob is core.Submit, WaitJob
// core.WaitJob, Logs core.JobLogs, and so on. An error answer of the daemon
// is an *Error that wraps the same error class as in process, so callers
// test errors.Is(err, core.ErrQueueTimeout) (or core.Retryable(err))
// whether the core runs in their process or behind a daemon; an ended
// job's Result is the core.Result that berth run --json prints.
//
// WaitJob and Events ride out a lost connection (a daemon that restarts):
// WaitJob polls again, Events resumes after the last event it delivered.
package client
