package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
)

// runFlags are berth run's flags.
type runFlags struct {
	image, project, workItem string
	snapshot, noSnapshot     bool
	env, secretEnv, labels   []string
	secretEnvFiles           []string
	timeout                  time.Duration
	memory                   string
	cpus                     float64
	json                     bool
}

func (a *app) runCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] -- CMD [ARG...]",
		Short: "Run a job in a container, from its work item's snapshot if there is one",
		Long: `Run a job in a container and stream its output.

With a work item, the job starts from the work item's latest snapshot if it
has one, and a successful job (exit 0) is committed as the next snapshot.
berth run exits with the job's exit code, 124 if the job timed out, 130 if
interrupted, and 125 if berth itself failed.

Through a daemon (--host, BERTH_HOST or the config's host) the job is made
here, from the flags and this command's config (its job defaults, secret env
files and variables), and runs in the daemon; its output, summary, --json
result and exit code are the same as in process, and SIGINT or SIGTERM
cancels it there (berth waits for its end, then exits 130).

Secret env is given to the job and never committed to a snapshot. Its
values get in three ways: --secret-env KEY takes KEY's value from berth's
own environment, --secret-env-file FILE reads a dotenv file, and
--secret-env KEY=VALUE takes it from the command line, where every local
user can read it (ps, /proc): use it for values that are not secret.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.run(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVar(&f.image, "image", "", "base image reference (default: job.image of the config)")
	fl.StringVar(&f.project, "project", "", `project ID (default "default")`)
	fl.StringVar(&f.workItem, "work-item", "", "work item ID: enables snapshots")
	fl.BoolVar(&f.snapshot, "snapshot", false, "take and use snapshots even if the policy disables them")
	fl.BoolVar(&f.noSnapshot, "no-snapshot", false, "neither use nor take a snapshot")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable KEY=VALUE (repeatable)")
	fl.StringArrayVar(&f.secretEnv, "secret-env", nil, "secret environment variable, never committed: KEY takes the value of KEY in berth's environment; KEY=VALUE puts the value on the command line, visible to other local users (repeatable)")
	fl.StringArrayVar(&f.secretEnvFiles, "secret-env-file", nil, "dotenv file of secret environment variables (KEY=VALUE lines, # comments, optional export and quotes), never committed (repeatable)")
	fl.StringArrayVar(&f.labels, "label", nil, "container label KEY=VALUE (repeatable)")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop the job after this long, e.g. 30s, 10m (default: job.timeout of the config, else none)")
	fl.StringVar(&f.memory, "memory", "", "memory limit: bytes or 512m, 1g, ... (default: job.memory of the config)")
	fl.Float64Var(&f.cpus, "cpus", 0, "CPU limit, e.g. 1.5 (default: job.cpus of the config)")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON on stdout; the job's stdout goes to stderr")
	cmd.MarkFlagsMutuallyExclusive("snapshot", "no-snapshot")
	return cmd
}

// job checks the flags and arguments of berth run and makes the job.
func (a *app) job(cmd *cobra.Command, f runFlags, args []string) (core.Job, error) {
	d := a.cfg.Job
	job := core.Job{
		Image:    f.image,
		Cmd:      args,
		Project:  f.project,
		WorkItem: f.workItem,
		Timeout:  time.Duration(d.Timeout),
	}
	if job.Image == "" {
		job.Image = d.Image
	}
	if job.Image == "" {
		return job, errors.New("run: missing --image (and no job.image in the config)")
	}
	if len(args) == 0 {
		return job, errors.New("run: missing command (berth run --image REF -- CMD [ARG...])")
	}
	if job.Project == "" {
		job.Project = "default"
	}
	var err error
	if job.Env, err = parseKV("env", f.env); err != nil {
		return job, err
	}
	if job.SecretEnv, err = a.secretEnv(f); err != nil {
		return job, err
	}
	if job.Labels, err = parseLabels("label", f.labels); err != nil {
		return job, err
	}
	if cmd.Flags().Changed("timeout") {
		if f.timeout < 0 {
			return job, fmt.Errorf("--timeout %s: must not be negative", f.timeout)
		}
		job.Timeout = f.timeout
	}
	job.MemoryBytes = int64(d.Memory)
	if cmd.Flags().Changed("memory") {
		if job.MemoryBytes, err = config.ParseSize(f.memory); err != nil {
			return job, fmt.Errorf("--memory: %w", err)
		}
	}
	cpus := jobCPUs(cmd, f, d)
	if cpus < 0 {
		return job, fmt.Errorf("--cpus %g: must not be negative", cpus)
	}
	job.NanoCPUs = int64(cpus * 1e9)
	switch {
	case f.snapshot:
		if job.WorkItem == "" {
			return job, errors.New("--snapshot needs --work-item")
		}
		on := true
		job.Snapshot = &on
	case f.noSnapshot:
		off := false
		job.Snapshot = &off
	}
	return job, nil
}

// jobCPUs is the job's CPU limit: --cpus, else the config's job.cpus.
func jobCPUs(cmd *cobra.Command, f runFlags, d config.Job) float64 {
	if cmd.Flags().Changed("cpus") {
		return f.cpus
	}
	return d.CPUs
}

func (a *app) run(cmd *cobra.Command, f runFlags, args []string) error {
	ctx := cmd.Context()
	job, err := a.job(cmd, f, args)
	if err != nil {
		return err
	}
	r, err := a.remote()
	if err != nil {
		return err
	}
	if r != nil {
		job.Runtime = a.runtimeName(cmd)
		return a.runRemote(cmd, r, f, job, jobCPUs(cmd, f, a.cfg.Job))
	}
	// No driver receives a variable of berth's environment that holds
	// one of the job's secrets.
	a.set.hide = append(keys(job.SecretEnv), a.cfg.Snapshots.NeverCommitEnv...)
	// The driver launches while the state opens and the job is recorded:
	// the core gets it (or the error of its launch or ping) when it needs it.
	name, err := a.warmRuntime(cmd)
	if err != nil {
		return err
	}
	job.Runtime = name
	began := time.Now()
	c, err := a.openCore(ctx, name)
	if err != nil {
		return err
	}
	job.Stdout, job.Stderr = a.stdout, a.stderr
	if f.json {
		job.Stdout = a.stderr
	}
	if isTerminal(a.stderr) {
		pp := &phaseProgress{w: a.stderr}
		job.OnPhase = pp.onPhase
		defer pp.end()
	}
	res, err := c.Run(ctx, job)
	return a.finish(f.json, job, res, began, res.Cancelled || (err != nil && ctx.Err() != nil), err)
}

// finish reports the end of job (res, or err when berth could not run it)
// and returns berth run's outcome, in process and through a daemon alike:
// 130 when the job was cancelled, berth's own error, 124 when the job timed
// out, else the job's exit code.
func (a *app) finish(asJSON bool, job core.Job, res core.Result, began time.Time, cancelled bool, err error) error {
	if errors.Is(err, runtime.ErrUnavailable) {
		err = fmt.Errorf("runtime %s: engine not answering: %w", cmp.Or(job.Runtime, res.Runtime), err)
	}
	if res.Durations.Total == 0 {
		res.Durations.Total = time.Since(began)
	}
	switch {
	case cancelled:
		a.report(asJSON, res, "cancelled")
		return exitCode(exitInterrupt)
	case err != nil:
		return err
	case res.TimedOut:
		a.report(asJSON, res, "timed out after "+job.Timeout.String())
		return exitCode(exitTimeout)
	}
	a.report(asJSON, res, fmt.Sprintf("exit %d", res.ExitCode))
	if res.ExitCode != 0 {
		return exitCode(res.ExitCode)
	}
	return nil
}

// report prints the result: as JSON on stdout, or as one summary line on
// stderr.
func (a *app) report(asJSON bool, res core.Result, outcome string) {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		_ = enc.Encode(res)
		return
	}
	fmt.Fprintln(a.stderr, "berth: "+summary(res, outcome))
}

// summary is the one-line account of a job.
func summary(res core.Result, outcome string) string {
	var b strings.Builder
	b.WriteString(outcome)
	if res.OOMKilled {
		b.WriteString(" (out of memory)")
	}
	if res.Hit {
		fmt.Fprintf(&b, " · snapshot hit %s", res.Image)
		if res.Pulled {
			b.WriteString(" (pulled)")
		}
	} else {
		fmt.Fprintf(&b, " · snapshot miss (%s)", orDash(res.Reason))
	}
	c := res.Commit
	switch {
	case c.Committed:
		fmt.Fprintf(&b, " · committed %s (generation %d, %d layers, %s", c.Image, c.Generation, c.Layers, humanBytes(c.Size))
		if c.Squashed {
			b.WriteString(", squashed")
		}
		b.WriteString(")")
		switch {
		case c.Digest != "":
			fmt.Fprintf(&b, " · shared %s", c.Digest)
		case c.PushError != "":
			fmt.Fprintf(&b, " · not shared (%s)", c.PushError)
		}
	case c.Error != "":
		fmt.Fprintf(&b, " · not committed (%s: %s)", orDash(c.Reason), c.Error)
	default:
		fmt.Fprintf(&b, " · not committed (%s)", orDash(c.Reason))
	}
	d := res.Durations
	fmt.Fprintf(&b, " · start %s run %s commit %s total %s",
		round(d.Start), round(d.Run), round(d.Commit), round(d.Total))
	return b.String()
}

func orDash[S ~string](s S) string {
	if s == "" {
		return "-"
	}
	return string(s)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// humanBytes formats n in binary units, to 4 significant digits ("1.5GiB",
// "512MiB", "1023B").
func humanBytes(n int64) string { return units.BytesSize(float64(n)) }
