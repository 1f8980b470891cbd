package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes besides the job's own.
const (
	exitTimeout   = 124 // the job timed out
	exitFailed    = 125 // berth itself failed
	exitInterrupt = 130 // SIGINT or SIGTERM
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal cancels the command, which cleans up; a second
		// one ends berth at once.
		<-ctx.Done()
		stop()
	}()
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitCode is returned by a command to end berth with a code and no
// message (the job's own exit code, 124, 130).
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// execute runs berth with args and returns the process exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	// The metrics are a report on the command, not its outcome: failing to
	// write them is a warning, and the exit code stays the command's.
	if merr := a.writeMetrics(); merr != nil {
		fmt.Fprintln(stderr, "berth: warning: "+oneLine(merr.Error()))
	}
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "berth: interrupted")
		return exitInterrupt
	}
	fmt.Fprintln(stderr, "berth: "+oneLine(err.Error()))
	return exitFailed
}

// oneLine folds s onto a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
