package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/core"
)

// remote is the daemon (berth serve) a command talks to when --host,
// BERTH_HOST or the config's host names one.
type remote struct {
	host, from string // the address, and what named it (--host, BERTH_HOST, config host)
	c          *client.Client
}

// remote returns the daemon the command talks to, or nil when none is
// named and the command runs in process.
func (a *app) remote() (*remote, error) {
	if a.host == "" {
		return nil, nil
	}
	if err := config.CheckHost(a.host); err != nil {
		return nil, fmt.Errorf("%s: %w", a.hostFrom, err)
	}
	token, err := readToken(a.tokenFile)
	if err != nil {
		return nil, err
	}
	c, err := client.New(a.host, client.WithToken(token))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.hostFrom, err)
	}
	a.client = c
	return &remote{host: a.host, from: a.hostFrom, c: c}, nil
}

// inProcessOnly is the error of a command that has no daemon API.
func (a *app) inProcessOnly(cmd *cobra.Command, why string) error {
	return fmt.Errorf("%s runs in process only (%s), and %s names a daemon (%s): run it with --host '' on the engine's machine",
		strings.TrimPrefix(cmd.CommandPath(), "berth "), why, a.hostFrom, a.host)
}

// err makes an error of the client's err as the command reports it: a
// daemon that cannot be reached is named with the host; the daemon's own
// errors (problems) read as in process, their class (errors.Is) kept.
func (r *remote) err(err error) error {
	var pe *client.Error
	var ue *url.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		if errors.Is(err, client.ErrUnauthorized) {
			return fmt.Errorf("daemon at %s: %w (give its token with --token-file, token_file or BERTH_TOKEN)", r.host, problem{pe})
		}
		if pe.Kind == "" { // not berth's answer
			return fmt.Errorf("daemon at %s: %w", r.host, err)
		}
		return problem{pe}
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &ue):
		return fmt.Errorf("daemon at %s (%s) not reachable: %w", r.host, r.from, ue.Err)
	}
	return fmt.Errorf("daemon at %s: %w", r.host, err)
}

// problem is a daemon's error answer, read as the core's error it stands
// for: its detail, which is the core error's text.
type problem struct{ e *client.Error }

func (p problem) Error() string {
	if p.e.Detail != "" {
		return p.e.Detail
	}
	return p.e.Error()
}

func (p problem) Unwrap() error { return p.e }

// createTimeout bounds the creation of a job, which a signal does not cut
// short (the job it makes must be known to be cancelled).
const createTimeout = time.Minute

// runRemote runs job through the daemon as berth run does in process: the
// job's output as it comes, then its summary or JSON result and its exit
// code. A signal cancels the job; berth waits for its end and exits 130.
func (a *app) runRemote(cmd *cobra.Command, r *remote, f runFlags, job core.Job, cpus float64) error {
	ctx := cmd.Context()
	began := time.Now()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	j, err := r.c.CreateJob(cctx, createRequest(job, cpus), "")
	cancel()
	if err != nil {
		return r.err(err)
	}
	stdout := a.stdout
	if f.json {
		stdout = a.stderr
	}
	out := r.follow(ctx, j.Id, stdout, a.stderr, a.stderr)
	end, err := r.c.WaitJob(ctx, j.Id, 0)
	interrupted := ctx.Err() != nil
	if interrupted {
		// Cancel, then wait for the job's end: its container is gone
		// once it ended. A second signal ends berth at once (main).
		bg := context.WithoutCancel(ctx)
		if _, err = r.c.CancelJob(bg, j.Id); err == nil {
			end, err = r.c.WaitJob(bg, j.Id, 0)
		}
	}
	if err != nil {
		out.stop()
		return r.err(err)
	}
	out.wait()
	res, _ := end.Result()
	failed := end.State == api.JobStateFailed
	if failed {
		err = r.err(end.Err())
	}
	return a.finish(f.json, job, res, began, end.State == api.JobStateCancelled || (interrupted && failed), err)
}

// createRequest is the API's form of job, as berth run made it from its
// flags and this command's config (cpus is its CPU limit, as given): the
// daemon's job defaults do not apply.
func createRequest(job core.Job, cpus float64) api.CreateJobRequest {
	timeout := job.Timeout.String()
	memory := strconv.FormatInt(job.MemoryBytes, 10)
	req := api.CreateJobRequest{
		Image:     &job.Image,
		Cmd:       job.Cmd,
		Project:   &job.Project,
		Env:       envMap(job.Env),
		SecretEnv: envMap(job.SecretEnv),
		Labels:    job.Labels,
		Snapshot:  job.Snapshot,
		Timeout:   &timeout,
		Memory:    &memory,
		Cpus:      &cpus,
	}
	if job.Runtime != "" {
		req.Runtime = &job.Runtime
	}
	if job.WorkItem != "" {
		req.WorkItem = &job.WorkItem
	}
	return req
}

// envMap turns KEY=VALUE entries into the API's env object; a later entry
// wins over an earlier one with the same key, as in process.
func envMap(entries []string) map[string]string {
	if len(entries) == 0 {
		return nil
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

// output copies a job's output from the daemon to the command's streams.
type output struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	ended  bool // the job has ended: a broken stream is retried less
}

// errStreamCut: a log stream ended before the job.
var errStreamCut = errors.New("the log stream ended before the job")

// logRetriesAfterEnd bounds the retries of a log stream broken after the
// job's end (a daemon gone for good).
const logRetriesAfterEnd = 3

// follow copies the output of job id to stdout and stderr as it comes,
// until the job has ended and its output is all copied. A broken stream
// (a daemon restarting) is resumed where it broke; warn receives why the
// output is incomplete, if it is. A signal (ctx) does not stop it: the
// job's last output comes after its cancel.
func (r *remote) follow(ctx context.Context, id string, stdout, stderr, warn io.Writer) *output {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o := &output{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		var written [3]int64 // bytes copied, by core.Stream
		w := [3]io.Writer{core.Stdout: stdout, core.Stderr: stderr}
		retries := 0
		delay := 100 * time.Millisecond
		for {
			var seen [3]int64 // bytes of this stream's connection
			err := r.c.Logs(lctx, id, true, func(s core.Stream, data []byte) error {
				if s != core.Stdout && s != core.Stderr {
					return nil
				}
				off := seen[s]
				seen[s] += int64(len(data))
				if seen[s] <= written[s] {
					return nil // copied before the stream broke
				}
				_, err := w[s].Write(data[max(written[s]-off, 0):])
				written[s] = seen[s]
				return err
			})
			if lctx.Err() != nil {
				return
			}
			if err == nil {
				// The stream ends with the job's output, or when the
				// daemon stops: only the job's end ends the copy.
				j, gerr := r.c.GetJob(lctx, id)
				switch {
				case gerr == nil && j.Ended():
					return
				case gerr == nil:
					err = errStreamCut
				default:
					err = gerr
				}
			}
			var pe *client.Error
			switch {
			case lctx.Err() != nil:
				return
			case errors.As(err, &pe) && !client.Retryable(err):
				fmt.Fprintf(warn, "berth: warning: output of job %s: %s\n", id, oneLine(r.err(err).Error()))
				return
			}
			o.mu.Lock()
			if o.ended {
				retries++
			}
			o.mu.Unlock()
			if retries > logRetriesAfterEnd {
				fmt.Fprintf(warn, "berth: warning: output of job %s incomplete: %s\n", id, oneLine(r.err(err).Error()))
				return
			}
			select {
			case <-lctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 2*time.Second)
		}
	}()
	return o
}

// wait waits until the job's output is all copied; the job has ended.
func (o *output) wait() {
	o.mu.Lock()
	o.ended = true
	o.mu.Unlock()
	<-o.done
	o.cancel()
}

// stop stops copying and waits until it stopped.
func (o *output) stop() {
	o.cancel()
	<-o.done
}
