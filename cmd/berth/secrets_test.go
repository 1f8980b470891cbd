package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecretEnvWays: secret env reaches the job from berth's environment
// (--secret-env KEY, job.secret_env), from dotenv files (--secret-env-file,
// job.secret_env_files, relative to the config file) and from the command
// line (--secret-env KEY=VALUE); the flags win over the config on the same
// key, --secret-env over --secret-env-file.
func TestSecretEnvWays(t *testing.T) {
	f := newFake(t, "job:\n  secret_env: [BERTH_T_CFG_ENV]\n  secret_env_files: [cfg.env]\n")
	write := func(path, content string) {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	}
	write(filepath.Join(f.dir, "cfg.env"), "CFG_FILE='from config file'\nOVERRIDDEN=config\nBY_FLAG_FILE=config\n")
	flagFile := filepath.Join(t.TempDir(), "flag.env")
	write(flagFile, "# flag file\nexport FLAG_FILE=\"from flag file\"\nBY_FLAG_FILE=flag-file\nOVERRIDDEN=flag-file\n")
	t.Setenv("BERTH_T_CFG_ENV", "from config env")
	t.Setenv("BERTH_T_FLAG_ENV", "from flag env")
	script := `echo "$BERTH_T_CFG_ENV|$CFG_FILE|$BERTH_T_FLAG_ENV|$FLAG_FILE|$ON_LINE|$OVERRIDDEN|$BY_FLAG_FILE"`
	code, stdout, stderr := f.berth("run", "--image", "base:latest",
		"--secret-env", "BERTH_T_FLAG_ENV", "--secret-env-file", flagFile,
		"--secret-env", "ON_LINE=from command line", "--secret-env", "OVERRIDDEN=flag",
		"--", "sh", "-c", script)
	require.Equal(t, 0, code, "exit code; stderr: %s", stderr)
	want := "from config env|from config file|from flag env|from flag file|from command line|flag|flag-file\n"
	require.Equal(t, want, stdout, "what the job saw")
}

// TestSecretEnvNotSet: a variable named for secret env that berth's
// environment does not hold is bad input: exit 125, one line naming the
// key, nothing made.
func TestSecretEnvNotSet(t *testing.T) {
	for _, c := range []struct {
		config string
		args   []string
	}{
		{"", []string{"--secret-env", "BERTH_T_UNSET"}},
		{"job:\n  secret_env: [BERTH_T_UNSET]\n", nil},
	} {
		var args []string
		if c.config != "" {
			p := filepath.Join(t.TempDir(), "berth.yaml")
			require.NoError(t, os.WriteFile(p, []byte(c.config), 0o600))
			args = []string{"--config", p}
		}
		t.Setenv("BERTH_T_UNSET", "")
		os.Unsetenv("BERTH_T_UNSET")
		args = append(append(append(args, "run", "--runtime", "fake", "--image", "base:latest"), c.args...), "--", "true")
		code, stdout, stderr := berthCLI(t, args...)
		assert.Equal(t, exitFailed, code, "%v with config %q: exit code; stderr %q", c.args, c.config, stderr)
		assert.Empty(t, stdout, "%v with config %q: stdout", c.args, c.config)
		if assert.Len(t, lines(stderr), 1, "%v with config %q: stderr's lines", c.args, c.config) {
			assert.Contains(t, stderr, "BERTH_T_UNSET", "%v with config %q: stderr names the variable", c.args, c.config)
		}
		_, err := os.Stat(os.Getenv("BERTH_STATE_DIR"))
		assert.ErrorIs(t, err, fs.ErrNotExist, "state directory made")
	}
}

// TestSecretEnvHelp: the help of berth run says that a value on the
// command line is visible to other users.
func TestSecretEnvHelp(t *testing.T) {
	code, stdout, _ := berthCLI(t, "run", "--help")
	require.Equal(t, 0, code, "berth run --help's exit code")
	assert.Contains(t, stdout, "--secret-env-file", "berth run --help")
	assert.Contains(t, stdout, "visible to other local users", "berth run --help")
}

// TestErrorsHoldNoSecret: bad input that carries a secret value (a
// malformed --env, --secret-env or --label entry, a bad line of a dotenv
// file, a misplaced KEY=VALUE in the config) is refused with exit 125 and
// one line that names the key, the entry's position or the file's line,
// never the value.
func TestErrorsHoldNoSecret(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	dir := t.TempDir()
	dotenv := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	config := func(name, content string) string { return dotenv(name, content) }
	for _, c := range []struct {
		name string
		args []string
		word string // the line names this
	}{
		{"secret-env empty key", []string{"--secret-env", "=" + secret}, "--secret-env"},
		{"secret-env key with blank", []string{"--secret-env", "TOKEN " + secret}, "--secret-env"},
		{"secret-env key with blank and value", []string{"--secret-env", "A B=" + secret}, "--secret-env"},
		{"second secret-env", []string{"--secret-env", "A=1", "--secret-env", "\t=" + secret}, "entry 2"},
		{"env empty key", []string{"--env", "=" + secret}, "--env"},
		{"env key with tab", []string{"--env", "A\tB=" + secret}, "--env"},
		{"label empty key", []string{"--label", "=" + secret}, "--label"},
		{"dotenv line without =", []string{"--secret-env-file", dotenv("a.env", "OK=1\n"+secret+"\n")}, "a.env:2"},
		{"dotenv unterminated", []string{"--secret-env-file", dotenv("b.env", "KEY=\""+secret+"\n")}, "b.env:1"},
		{"dotenv bad key", []string{"--secret-env-file", dotenv("c.env", "A B="+secret+"\n")}, "c.env:1"},
		{"dotenv after quote", []string{"--secret-env-file", dotenv("d.env", "K='x'"+secret+"\n")}, "d.env:1"},
		{"config secret_env", []string{"--config", config("e.yaml", "job:\n  secret_env: [\"TOKEN="+secret+"\"]\n")}, "job.secret_env[0]"},
		{"config never_commit_env", []string{"--config", config("f.yaml", "snapshots:\n  never_commit_env: [\"TOKEN="+secret+"\"]\n")}, "snapshots.never_commit_env[0]"},
		{"config runtime env", []string{"--config", config("g.yaml", "runtimes:\n  fake:\n    env: [\"TOKEN="+secret+"\"]\n")}, "runtimes.fake.env[0]"},
		{"config dotenv", []string{"--config", config("h.yaml", "job:\n  secret_env_files: [i.env]\n")}, "i.env:1"},
	} {
		dotenv("i.env", "'"+secret+"'=x\n")
		t.Run(c.name, func(t *testing.T) {
			args := []string{"run", "--runtime", "fake", "--image", "base:latest"}
			if c.args[0] == "--config" {
				args = append(c.args[:2:2], args...)
			} else {
				args = append(args, c.args...)
			}
			code, stdout, stderr := berthCLI(t, append(args, "--", "true")...)
			assert.Equal(t, exitFailed, code, "exit code; stderr %q", stderr)
			assert.Empty(t, stdout, "stdout")
			if assert.Len(t, lines(stderr), 1, "stderr's lines") {
				assert.Contains(t, stderr, c.word, "stderr names %s", c.word)
			}
			assert.NotContains(t, stdout+stderr, "s3cr3t", "the secret is in the output")
		})
	}
}

// TestOutputsHoldNoSecret runs jobs with secret env given in every way
// (succeeding, failing, timing out, with a work item and a commit), with
// --json, debug logs and a metrics file, and finds the secret values in
// none of berth's output, the metrics file or the state directory.
func TestOutputsHoldNoSecret(t *testing.T) {
	f := newFake(t, "job:\n  secret_env: [BERTH_T_CFG_SECRET]\nsnapshots:\n  never_commit_env: [NEVER]\n")
	t.Setenv("BERTH_T_CFG_SECRET", "s3cr3t-from-config-env")
	t.Setenv("BERTH_T_FLAG_SECRET", "s3cr3t-from-flag-env")
	file := filepath.Join(t.TempDir(), "secrets.env")
	require.NoError(t, os.WriteFile(file, []byte("FILE_SECRET=\"s3cr3t-from-file\"\n"), 0o600))
	metrics := filepath.Join(t.TempDir(), "berth.prom")
	secretArgs := []string{"--secret-env", "BERTH_T_FLAG_SECRET", "--secret-env-file", file,
		"--secret-env", "LINE_SECRET=s3cr3t-on-line", "--env", "NEVER=s3cr3t-never-commit"}
	var all strings.Builder
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--work-item", "w1", "--", "sh", "-c", "echo hi > /work/f"}, 0},
		{[]string{"--work-item", "w1", "--", "true"}, 0},
		{[]string{"--work-item", "w2", "--", "sh", "-c", "echo failing >&2; exit 4"}, 4},
		{[]string{"--timeout", "100ms", "--", "sleep", "10"}, exitTimeout},
		{[]string{"--json", "--work-item", "w3", "--", "true"}, 0},
	} {
		args := append([]string{"--log-level", "debug", "--metrics-file", metrics, "run", "--image", "base:latest"}, secretArgs...)
		code, stdout, stderr := f.berth(append(args, c.args...)...)
		assert.Equal(t, c.code, code, "%v: exit code; stderr: %s", c.args, stderr)
		all.WriteString(stdout + stderr)
	}
	for _, args := range [][]string{{"snapshots", "ls", "--json"}, {"gc", "--json", "--orphan-grace", "0s"}} {
		code, stdout, stderr := f.berth(append([]string{"--log-level", "debug", "--metrics-file", metrics}, args...)...)
		assert.Equal(t, 0, code, "%v: exit code; stderr: %s", args, stderr)
		all.WriteString(stdout + stderr)
	}
	assert.NotContains(t, all.String(), "s3cr3t", "berth's output holds a secret")
	data, err := os.ReadFile(metrics)
	if assert.NoError(t, err, "metrics file") {
		assert.NotContains(t, string(data), "s3cr3t", "the metrics file holds a secret")
	}
	err = filepath.WalkDir(f.state, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		assert.NotContains(t, string(data), "s3cr3t", "%s holds a secret", path)
		return nil
	})
	require.NoError(t, err, "walk the state directory")
}
