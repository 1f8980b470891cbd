package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/runtime"
)

// detectTimeout bounds the launch and ping of each engine's driver when
// berth looks for an engine: one that does not answer in time is passed
// over.
const detectTimeout = 10 * time.Second

// detect returns the first of names (runtimes, in the documented order:
// config.Probed) whose driver launches and whose engine answers its ping;
// each driver finds its engine as the engine's own clients do. The error,
// when none answers, wraps runtime.ErrUnavailable and says why each was
// passed over.
func detect(ctx context.Context, names []string, ping func(context.Context, string) error) (string, error) {
	var why []string
	for _, name := range names {
		pctx, cancel := context.WithTimeout(ctx, detectTimeout)
		err := ping(pctx, name)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("detect engine: %w", ctx.Err())
			}
			why = append(why, err.Error())
			continue
		}
		return name, nil
	}
	return "", fmt.Errorf("%w: no usable container engine (%s); start one (scripts/engines.sh) or pass --runtime fake",
		runtime.ErrUnavailable, strings.Join(why, "; "))
}

// pingRuntime launches the driver of name and pings its engine; a driver
// that does not answer is stopped again.
func (a *app) pingRuntime(ctx context.Context, name string) error {
	if err := a.set.ping(ctx, name); err != nil {
		return fmt.Errorf("runtime %s: %w", name, err)
	}
	return nil
}

// resolveRuntime returns the runtime a command uses: the one chosen by
// flag, environment or config (checked and pinged), else the first engine
// that answers.
func (a *app) resolveRuntime(cmd *cobra.Command) (string, error) {
	if name := a.runtimeName(cmd); name != "" {
		if err := a.set.check(name); err != nil {
			return "", err
		}
		return name, a.pingRuntime(cmd.Context(), name)
	}
	return detect(cmd.Context(), config.Probed, a.pingRuntime)
}

// warmRuntime is resolveRuntime for a command that goes on while the
// driver of a chosen runtime launches: it only checks the name (the
// command's first engine call tells whether the engine answers), and the
// set's Runtime waits for the launch.
func (a *app) warmRuntime(cmd *cobra.Command) (string, error) {
	name := a.runtimeName(cmd)
	if name == "" {
		return detect(cmd.Context(), config.Probed, a.pingRuntime)
	}
	if err := a.set.check(name); err != nil {
		return "", err
	}
	a.set.warm(name)
	return name, nil
}
