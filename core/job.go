package core

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/runtime"
)

// The labels berth puts on the containers and images it makes.
const (
	LabelManagedBy  = "io.berth.managed-by"
	LabelInstance   = "io.berth.instance"
	LabelProject    = "io.berth.project"
	LabelWorkItem   = "io.berth.work-item"
	LabelGeneration = "io.berth.generation"
	LabelBaseImage  = "io.berth.base-image"
	LabelBaseID     = "io.berth.base-image-id"
	LabelJob        = "io.berth.job"
	// LabelRuntime names the runtime (as the Core's RuntimeSet calls it),
	// so that two runtime names on one engine never claim each other's
	// images and containers.
	LabelRuntime = "io.berth.runtime"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "berth"
	// labelPrefix is reserved: jobs may not set labels under it.
	labelPrefix = "io.berth."
)

// invalidJobError is a job validation error. It matches both ErrInvalidJob
// and runtime.ErrInvalidArgument.
type invalidJobError struct{ msg string }

func (e *invalidJobError) Error() string   { return "invalid job: " + e.msg }
func (e *invalidJobError) Unwrap() []error { return []error{ErrInvalidJob, runtime.ErrInvalidArgument} }

func invalid(format string, args ...any) error {
	return &invalidJobError{msg: fmt.Sprintf(format, args...)}
}

// normalize checks job and fills in its defaults.
func (c *Core) normalize(job Job) (Job, error) {
	if job.Runtime == "" {
		job.Runtime = c.cfg.DefaultRuntime
	}
	if job.Project == "" {
		job.Project = DefaultProject
	}
	switch {
	case strings.TrimSpace(job.Image) == "":
		return job, invalid("image is required")
	case len(job.Cmd) == 0 || job.Cmd[0] == "":
		return job, invalid("command is required")
	case job.Timeout < 0:
		return job, invalid("negative timeout %s", job.Timeout)
	case job.MemoryBytes < 0:
		return job, invalid("negative memory limit %d", job.MemoryBytes)
	case job.NanoCPUs < 0:
		return job, invalid("negative CPU limit %d", job.NanoCPUs)
	}
	for _, id := range []struct{ what, v string }{{"project", job.Project}, {"work item", job.WorkItem}} {
		if !utf8.ValidString(id.v) || strings.ContainsRune(id.v, 0) {
			return job, invalid("%s %q is not valid UTF-8 text", id.what, id.v)
		}
	}
	// An entry is named by its position and, when it has one, its key:
	// never by its value, which may be a secret (and an entry without '='
	// may be a value pasted alone).
	for _, list := range []struct {
		what    string
		entries []string
	}{{"env", job.Env}, {"secret env", job.SecretEnv}} {
		for i, kv := range list.entries {
			k, _, ok := strings.Cut(kv, "=")
			switch {
			case !ok:
				return job, invalid("%s entry %d has no '=': want KEY=VALUE", list.what, i+1)
			case k == "" || strings.ContainsAny(k, " \t\n\x00"):
				return job, invalid("%s entry %d: key %q is empty or holds white space", list.what, i+1, k)
			}
		}
	}
	for k := range job.Labels {
		if k == "" || strings.HasPrefix(k, labelPrefix) {
			return job, invalid("label %q: empty or reserved (%s*)", k, labelPrefix)
		}
	}
	return job, nil
}

// enabled reports whether snapshots apply to job.
func (c *Core) enabled(job Job) bool {
	if job.Snapshot != nil {
		return *job.Snapshot
	}
	if p, ok := c.cfg.Projects[job.Project]; ok && p.Enabled != nil {
		return *p.Enabled
	}
	return c.cfg.Policy.Enabled
}

// ttl returns the effective TTL of project's snapshots (0: forever).
func (c *Core) ttl(project string) time.Duration {
	if p, ok := c.cfg.Projects[project]; ok && p.TTL != nil {
		return *p.TTL
	}
	return c.cfg.Policy.TTL
}

// expires returns when a snapshot of project made at created expires
// (zero: never).
func (c *Core) expires(project string, created time.Time) time.Time {
	ttl := c.ttl(project)
	if ttl <= 0 {
		return time.Time{}
	}
	return created.Add(ttl)
}

func (c *Core) layerLimit() int {
	if c.cfg.Policy.LayerLimit > 0 {
		return c.cfg.Policy.LayerLimit
	}
	return DefaultLayerLimit
}

// splitEnv returns the env the container gets in the clear and the env it
// gets as secret: the job's SecretEnv plus its Env entries whose key is in
// Policy.NeverCommitEnv. The job's own BERTH_SNAPSHOT entries are dropped:
// berth sets that variable.
func (c *Core) splitEnv(job Job) (env, secret []string) {
	never := c.cfg.Policy.NeverCommitEnv
	for _, kv := range job.Env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == SnapshotEnv:
		case slices.Contains(never, k):
			secret = append(secret, kv)
		default:
			env = append(env, kv)
		}
	}
	for _, kv := range job.SecretEnv {
		if k, _, _ := strings.Cut(kv, "="); k != SnapshotEnv {
			secret = append(secret, kv)
		}
	}
	return env, secret
}
