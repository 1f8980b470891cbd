package main

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// TestDriverEnvironment runs a job whose secret comes from berth's
// environment, and reads the environment of the driver process berth
// launched: it holds what the runtime's env names and what drivers need,
// never the secret (not even when the runtime's env names its variable),
// nor any other of berth's variables.
func TestDriverEnvironment(t *testing.T) {
	const secret = "s3cr3t-for-the-job-only"
	f := newFake(t, "runtimes:\n  fake:\n    env: [BERTH_TEST_FOR_DRIVER, BERTH_TEST_TOKEN]\n")
	t.Setenv("BERTH_TEST_TOKEN", secret)
	t.Setenv("BERTH_TEST_UNRELATED", "another-s3cr3t")
	t.Setenv("BERTH_TEST_FOR_DRIVER", "for-the-driver")
	t.Setenv("DOCKER_HOST", "unix:///run/test.sock")
	cmd, stderr := f.start("run", "--image", "base:latest", "--secret-env", "BERTH_TEST_TOKEN", "--", "sleep", "60")
	env := drivertest.Environ(t, waitDriver(t, cmd.Process.Pid, stderr))
	if env["BERTH_TEST_FOR_DRIVER"] != "for-the-driver" || env["DOCKER_HOST"] != "unix:///run/test.sock" || env["PATH"] == "" {
		t.Errorf("the driver lacks variables it should get: %v", env)
	}
	for k, v := range env {
		if strings.Contains(v, "s3cr3t") {
			t.Errorf("the driver received a secret in %s", k)
		}
		if k == "BERTH_TEST_TOKEN" || k == "BERTH_TEST_UNRELATED" || k == "BERTH_STATE_DIR" || k == "BERTH_CONFIG" {
			t.Errorf("the driver received %s", k)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != exitInterrupt {
		t.Errorf("berth run after SIGTERM: %v, want exit 130; stderr: %s", err, stderr)
	}
}
