package main

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	assert.Subset(t, env, map[string]string{"BERTH_TEST_FOR_DRIVER": "for-the-driver", "DOCKER_HOST": "unix:///run/test.sock"},
		"the driver lacks variables it should get")
	assert.NotEmpty(t, env["PATH"], "the driver's PATH")
	for k, v := range env {
		assert.NotContains(t, v, "s3cr3t", "the driver received a secret in %s", k)
		assert.NotContains(t, []string{"BERTH_TEST_TOKEN", "BERTH_TEST_UNRELATED", "BERTH_STATE_DIR", "BERTH_CONFIG"}, k,
			"the driver received %s", k)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var ee *exec.ExitError
	if assert.ErrorAs(t, cmd.Wait(), &ee, "berth run after SIGTERM; stderr: %s", stderr) {
		assert.Equal(t, exitInterrupt, ee.ExitCode(), "berth run's exit code after SIGTERM; stderr: %s", stderr)
	}
}
