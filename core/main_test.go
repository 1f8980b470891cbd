package core

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// helperEnv makes the test binary act as another berth process (see
// helperProcess) instead of running the tests.
const helperEnv = "BERTH_CORE_TEST_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	code := m.Run()
	cleanupBench()
	os.Exit(code)
}

// runHelper is the other process. "hold-lock" takes the lock of
// (BERTH_PROJECT, BERTH_ITEM) under BERTH_DIR, says "ready", and holds it
// until its stdin closes. Other roles are in helpers_test.go.
func runHelper(role string) int {
	ctx := context.Background()
	switch role {
	case "hold-lock":
		l, err := newItemLocks(os.Getenv("BERTH_DIR"))
		if err != nil {
			fmt.Println(err)
			return 1
		}
		unlock, err := l.lock(ctx, os.Getenv("BERTH_PROJECT"), os.Getenv("BERTH_ITEM"), 0)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		unlock()
		return 0
	case "take-slot":
		// Takes one of BERTH_MAX slots under BERTH_DIR, says "admitted",
		// and holds it until its stdin closes.
		max, _ := strconv.Atoi(os.Getenv("BERTH_MAX"))
		s, err := newSlots(os.Getenv("BERTH_DIR"), max)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		release, err := s.acquire(ctx, 0)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("admitted")
		io.Copy(io.Discard, os.Stdin)
		release()
		return 0
	default:
		return runCoreHelper(ctx, role)
	}
}

// helperProcess starts the test binary as another process in role, waits
// for it to print "ready" and returns it; closing stdin (the returned
// func) asks it to finish.
func helperProcess(t *testing.T, role string, env ...string) (*exec.Cmd, func()) {
	t.Helper()
	cmd, stdin, stdout := startHelper(t, role, env...)
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "helper %s's output", role)
	require.Equal(t, "ready\n", line, "helper %s's output", role)
	return cmd, func() { stdin.Close(); cmd.Wait() }
}

// startHelper starts the test binary as another process in role, with
// env added, and returns it with its stdin and stdout.
func startHelper(t *testing.T, role string, env ...string) (*exec.Cmd, io.WriteCloser, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	return cmd, stdin, stdout
}
