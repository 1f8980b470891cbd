package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

// Job is a job as the daemon shows it.
type Job struct {
	api.Job
}

// Ended reports whether the job has ended (exited, failed or cancelled).
func (j *Job) Ended() bool { return core.JobState(j.State).Ended() }

// Exited reports whether the job's container exited: the job ended, or its
// commit runs (Commit.Pending), its exit code and output final.
func (j *Job) Exited() bool {
	return j.Ended() || j.Job.Exited != nil
}

// Result returns what happened to a job whose container exited, as
// core.Run returns it (and berth run --json prints it); ok is false before.
// While the commit runs, the result's Commit.Pending is set.
func (j *Job) Result() (res core.Result, ok bool) {
	if !j.Exited() {
		return res, false
	}
	// The job's top-level result fields are core.Result's JSON.
	b, err := json.Marshal(j.Job)
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	return res, err == nil
}

// Err returns why berth could not run the job (nil when it could): an
// error of its kind's class, so that errors.Is(err, core.ErrQueueTimeout)
// and the like hold as in process.
func (j *Job) Err() error {
	if j.Error == nil {
		return nil
	}
	return KindError(api.ProblemKind(j.Error.Type), j.Error.Detail)
}

func jobPath(id string, rest ...string) string {
	p := "/v1/jobs/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// CreateJob creates a job and returns it as recorded (queued). A non-empty
// idempotencyKey makes a retried create return the first one's job.
func (c *Client) CreateJob(ctx context.Context, req api.CreateJobRequest, idempotencyKey string) (*Job, error) {
	r := request{method: "POST", path: "/v1/jobs", body: req}
	if idempotencyKey != "" {
		r.header = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	var j Job
	if err := c.call(ctx, r, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// GetJob returns job id (an error wrapping core.ErrJobNotFound if there is
// none).
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := c.call(ctx, request{method: "GET", path: jobPath(id)}, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// ListOptions select jobs; zero fields match all.
type ListOptions struct {
	State    core.JobState
	Project  string
	WorkItem string
	// Limit caps the jobs returned, newest first (0: the daemon's
	// default, 100).
	Limit int
}

// ListJobs returns the jobs opts selects, newest first.
func (c *Client) ListJobs(ctx context.Context, opts ListOptions) ([]Job, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("state", string(opts.State))
	set("project", opts.Project)
	set("work_item", opts.WorkItem)
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var list struct {
		Jobs []Job `json:"jobs"`
	}
	if err := c.call(ctx, request{method: "GET", path: "/v1/jobs", query: q}, &list); err != nil {
		return nil, err
	}
	return list.Jobs, nil
}

// CancelJob cancels job id and returns it as it is after the call (a
// running job is still stopping: WaitJob waits for its end).
func (c *Client) CancelJob(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := c.call(ctx, request{method: "POST", path: jobPath(id, "cancel")}, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Longest wait asked of the daemon in one request, and the margin kept
// before the caller's deadline so the daemon's answer arrives in time.
const (
	maxPoll    = time.Minute
	pollMargin = 250 * time.Millisecond
)

// WaitJob waits until job id has ended and returns it. timeout bounds the
// whole wait (0: until ctx is done); it is made of long polls of at most a
// minute each, and a lost connection (a daemon restarting) is retried.
// When the time is up first it returns the job as last seen (nil if never)
// with an error wrapping context.DeadlineExceeded (or ctx's error).
func (c *Client) WaitJob(ctx context.Context, id string, timeout time.Duration) (*Job, error) {
	return c.waitJob(ctx, id, timeout, "end")
}

// WaitJobExit is WaitJob, but returns as soon as the job's container
// exited (Job.Exited): a caller that needs only the exit code and output is
// not held by the job's commit.
func (c *Client) WaitJobExit(ctx context.Context, id string, timeout time.Duration) (*Job, error) {
	return c.waitJob(ctx, id, timeout, "exit")
}

func (c *Client) waitJob(ctx context.Context, id string, timeout time.Duration, until string) (*Job, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var last *Job
	var b backoff
	for {
		poll := maxPoll
		if dl, ok := ctx.Deadline(); ok {
			poll = min(poll, time.Until(dl)-pollMargin)
		}
		if poll < time.Millisecond {
			poll = time.Millisecond
		}
		var j Job
		q := url.Values{"timeout": {poll.Round(time.Millisecond).String()}, "for": {until}}
		err := c.call(ctx, request{method: "GET", path: jobPath(id, "wait"), query: q}, &j)
		switch {
		case err == nil:
			last = &j
			if j.Ended() || until == "exit" && j.Exited() {
				return last, nil
			}
			b.reset()
		case ctx.Err() != nil:
			return last, fmt.Errorf("wait for job %s: %w", id, ctx.Err())
		case transient(err):
			if serr := b.sleep(ctx, err); serr != nil {
				return last, fmt.Errorf("wait for job %s: %w (last error: %w)", id, serr, err)
			}
		default:
			return last, err
		}
		if ctx.Err() != nil {
			return last, fmt.Errorf("wait for job %s: %w", id, ctx.Err())
		}
	}
}

// transient reports whether err may go away by itself: a lost connection,
// or a daemon that is busy, starting or stopping.
func transient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return Retryable(e)
	}
	return true // no answer at all: the daemon is restarting, or unreachable for now
}

// backoff spaces retries: 100ms, doubling up to 5s, or the daemon's
// Retry-After.
type backoff struct{ d time.Duration }

func (b *backoff) reset() { b.d = 0 }

func (b *backoff) sleep(ctx context.Context, cause error) error {
	b.d = min(max(2*b.d, 100*time.Millisecond), 5*time.Second)
	d := b.d
	var e *Error
	if errors.As(cause, &e) && e.RetryAfter > 0 {
		d = e.RetryAfter
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
