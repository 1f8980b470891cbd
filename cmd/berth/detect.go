package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/runtime"
)

// candidate is an engine berth may pick when no runtime is chosen.
type candidate struct {
	name    string // runtime name
	address string // the engine's socket
}

// candidates are the built-in engines, in the order they are tried.
func candidates() []candidate {
	var cs []candidate
	for _, n := range config.Probed {
		cs = append(cs, candidate{name: n, address: config.DefaultAddress(n)})
	}
	return cs
}

// detect returns the name of the first candidate whose socket accepts a
// connection and whose driver then answers ping. The error, when none
// answers, wraps runtime.ErrUnavailable and says why each was passed over.
func detect(ctx context.Context, cs []candidate, ping func(context.Context, string) error) (string, error) {
	var why []string
	for _, c := range cs {
		if err := dialSocket(ctx, c.address); err != nil {
			why = append(why, fmt.Sprintf("%s: %v", c.name, err))
			continue
		}
		if err := ping(ctx, c.name); err != nil {
			why = append(why, fmt.Sprintf("%s: %v", c.name, err))
			continue
		}
		return c.name, nil
	}
	return "", fmt.Errorf("%w: no usable container engine (%s); start one (scripts/engines.sh) or pass --runtime fake",
		runtime.ErrUnavailable, strings.Join(why, "; "))
}

// dialSocket checks that something listens on the unix socket address
// ("unix:///path" or "/path").
func dialSocket(ctx context.Context, address string) error {
	path := strings.TrimPrefix(address, "unix://")
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err
		}
		return fmt.Errorf("%s: %v", path, err)
	}
	return conn.Close()
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
	return detect(cmd.Context(), candidates(), a.pingRuntime)
}

// warmRuntime is resolveRuntime for a command that goes on while the
// driver of a chosen runtime launches: it only checks the name (the
// command's first engine call tells whether the engine answers), and the
// set's Runtime waits for the launch.
func (a *app) warmRuntime(cmd *cobra.Command) (string, error) {
	name := a.runtimeName(cmd)
	if name == "" {
		return detect(cmd.Context(), candidates(), a.pingRuntime)
	}
	if err := a.set.check(name); err != nil {
		return "", err
	}
	a.set.warm(name)
	return name, nil
}
