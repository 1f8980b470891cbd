package server

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

const kindInvalidJob = string(core.KindInvalidJob)

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	var req api.CreateJobRequest
	if !s.decode(w, r, &req, kindInvalidJob, false) {
		return
	}
	job, err := s.job(req)
	if err != nil {
		s.invalid(w, r, kindInvalidJob, "%v", err)
		return
	}
	// The job runs in the background: a client that goes away while it is
	// recorded does not take it along.
	rec, err := s.core.Submit(context.WithoutCancel(r.Context()), job,
		core.SubmitOptions{IdempotencyKey: r.Header.Get("Idempotency-Key")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+url.PathEscape(rec.ID))
	writeJSON(w, http.StatusCreated, "application/json", apiJob(rec))
}

// job makes the core's job of req, with the defaults filled in. Its errors
// are about the job's fields (invalid-job).
func (s *Server) job(req api.CreateJobRequest) (core.Job, error) {
	d := s.opts.JobDefaults
	job := core.Job{
		Runtime:     deref(req.Runtime),
		Image:       cmp.Or(deref(req.Image), d.Image),
		Cmd:         req.Cmd,
		Project:     deref(req.Project),
		WorkItem:    deref(req.WorkItem),
		Labels:      req.Labels,
		Snapshot:    req.Snapshot,
		Timeout:     d.Timeout,
		MemoryBytes: d.MemoryBytes,
		NanoCPUs:    d.NanoCPUs,
	}
	var err error
	if job.Env, err = envList("env", req.Env); err != nil {
		return job, err
	}
	if job.SecretEnv, err = envList("secret_env", req.SecretEnv); err != nil {
		return job, err
	}
	if req.Timeout != nil {
		if job.Timeout, err = time.ParseDuration(*req.Timeout); err != nil {
			return job, fmt.Errorf("timeout: %w", err)
		}
		if job.Timeout < 0 {
			return job, fmt.Errorf("timeout %s: must not be negative", job.Timeout)
		}
	}
	if req.Memory != nil {
		if job.MemoryBytes, err = s.opts.ParseSize(*req.Memory); err != nil {
			return job, fmt.Errorf("memory: %w", err)
		}
	}
	if req.Cpus != nil {
		if *req.Cpus < 0 {
			return job, fmt.Errorf("cpus %g: must not be negative", *req.Cpus)
		}
		job.NanoCPUs = int64(*req.Cpus * 1e9)
	}
	if job.Snapshot != nil && *job.Snapshot && job.WorkItem == "" {
		return job, fmt.Errorf("snapshot: true needs a work_item")
	}
	return job, nil
}

// envList turns an env object into KEY=VALUE entries, sorted by key.
func envList(field string, env map[string]string) ([]string, error) {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("%s: invalid key %q (empty, or holds = or NUL)", field, k)
		}
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// parseSize is ParseSize's default: a whole number of bytes or a number
// with a unit (512m, 1.5g).
func parseSize(s string) (int64, error) {
	v, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid size %q: must not be negative", s)
	}
	return v, nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := core.JobFilter{
		State:    core.JobState(q.Get("state")),
		Project:  q.Get("project"),
		WorkItem: q.Get("work_item"),
		Limit:    DefaultListLimit,
	}
	if f.State != "" && !api.JobState(f.State).Valid() {
		s.invalid(w, r, api.KindInvalidRequest, "state %q: want queued, running, exited, failed or cancelled", f.State)
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || n > 1000 {
			s.invalid(w, r, api.KindInvalidRequest, "limit %q: want a whole number from 0 to 1000", l)
			return
		}
		if n > 0 {
			f.Limit = n
		}
	}
	recs, err := s.core.ListJobs(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list := api.JobList{Jobs: make([]api.Job, len(recs))}
	for i, rec := range recs {
		list.Jobs[i] = apiJob(rec)
	}
	ok(w, list)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	rec, err := s.core.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, apiJob(rec))
}

func (s *Server) waitJob(w http.ResponseWriter, r *http.Request) {
	wait := DefaultWait
	if t := r.URL.Query().Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			s.invalid(w, r, api.KindInvalidRequest, "timeout %q: want a duration such as 30s, at most %s", t, MaxWait)
			return
		}
		wait = min(d, MaxWait)
	}
	waitFor := s.core.WaitJob
	switch f := r.URL.Query().Get("for"); f {
	case "", "end":
	case "exit":
		waitFor = s.core.WaitJobExit
	default:
		s.invalid(w, r, api.KindInvalidRequest, "for %q: want end or exit", f)
		return
	}
	ctx, cancel := s.context(r)
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, wait)
	defer wcancel()
	id := r.PathValue("id")
	rec, err := waitFor(wctx, id)
	if err != nil && wctx.Err() != nil && r.Context().Err() == nil {
		// Time is up (or the server closes): the job as it is now.
		rec, err = s.core.GetJob(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, apiJob(rec))
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	rec, err := s.core.CancelJob(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, apiJob(rec))
}

// apiJob is the API's form of a job record: once the job ended (or its
// container exited and its commit runs), its result's fields (those of
// berth run --json) at the top level.
func apiJob(rec core.JobRecord) api.Job {
	j := api.Job{
		Id:      rec.ID,
		State:   api.JobState(rec.State),
		Spec:    apiSpec(rec.Spec),
		Created: rec.Created,
	}
	if rec.IdempotencyKey != "" {
		j.IdempotencyKey = &rec.IdempotencyKey
	}
	if !rec.Started.IsZero() {
		j.Started = &rec.Started
	}
	if !rec.Exited.IsZero() {
		j.Exited = &rec.Exited
	}
	if !rec.Ended.IsZero() {
		j.Ended = &rec.Ended
	}
	if rec.Reattached > 0 {
		j.Reattached = &rec.Reattached
	}
	if rec.Error != "" || rec.ErrorKind != "" {
		j.Error = &api.JobError{Type: api.ProblemType(string(cmp.Or(rec.ErrorKind, core.KindInternal))), Detail: rec.Error}
	}
	if rec.State.Ended() || rec.Result != nil && rec.Result.Commit.Pending {
		res := core.Result{JobID: rec.ID, Runtime: rec.Spec.Runtime, Project: rec.Spec.Project,
			WorkItem: rec.Spec.WorkItem, Cancelled: rec.State == core.JobCancelled}
		if rec.Result != nil {
			res = *rec.Result
		}
		// The result's JSON names are the document's: it fills in the
		// job's top-level result fields.
		b, err := json.Marshal(res)
		if err == nil {
			err = json.Unmarshal(b, &j)
		}
		if err != nil {
			panic("server: a core.Result does not fit api.Job: " + err.Error())
		}
	}
	return j
}

// apiSpec is the API's form of a job's spec.
func apiSpec(sp core.JobSpec) api.JobSpec {
	out := api.JobSpec{
		Runtime:       sp.Runtime,
		Image:         sp.Image,
		Cmd:           sp.Cmd,
		Project:       sp.Project,
		Snapshot:      sp.Snapshot,
		Labels:        sp.Labels,
		SecretEnvKeys: sp.SecretKeys,
	}
	if out.Cmd == nil {
		out.Cmd = []string{}
	}
	if sp.WorkItem != "" {
		out.WorkItem = &sp.WorkItem
	}
	if len(sp.Env) > 0 {
		out.Env = make(map[string]string, len(sp.Env))
		for _, kv := range sp.Env {
			k, v, _ := strings.Cut(kv, "=")
			out.Env[k] = v
		}
	}
	if sp.Timeout > 0 {
		t := sp.Timeout.String()
		out.Timeout = &t
	}
	if sp.MemoryBytes > 0 {
		out.MemoryBytes = &sp.MemoryBytes
	}
	if sp.NanoCPUs > 0 {
		cpus := float64(sp.NanoCPUs) / 1e9
		out.Cpus = &cpus
	}
	return out
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
