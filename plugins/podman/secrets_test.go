package podman

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/secrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secretNames returns the names of the secrets in the store.
func secretNames(t testing.TB, raw context.Context) map[string]bool {
	t.Helper()
	list, err := secrets.List(raw, nil)
	require.NoError(t, err, "secrets.List")
	out := map[string]bool{}
	for _, s := range list {
		out[s.Spec.Name] = true
	}
	return out
}

// secretsCreated returns when Podman says each secret in the store was
// made.
func secretsCreated(t testing.TB, raw context.Context) map[string]time.Time {
	t.Helper()
	list, err := secrets.List(raw, nil)
	require.NoError(t, err, "secrets.List")
	out := map[string]time.Time{}
	for _, s := range list {
		out[s.Spec.Name] = s.CreatedAt
	}
	return out
}

// containerNames returns the names of every container.
func containerNames(t testing.TB, raw context.Context) map[string]bool {
	t.Helper()
	all := true
	list, err := containers.List(raw, &containers.ListOptions{All: &all})
	require.NoError(t, err, "containers.List")
	out := map[string]bool{}
	for _, c := range list {
		for _, n := range c.Names {
			out[n] = true
		}
	}
	return out
}

// removeLabelled removes, with the bindings (not the driver), every
// container carrying the fixture's label.
func (f *fixture) removeLabelled() {
	f.t.Helper()
	all := true
	list, err := containers.List(f.raw, &containers.ListOptions{All: &all, Filters: map[string][]string{"label": {testLabel + "=" + f.id}}})
	require.NoError(f.t, err, "containers.List")
	for _, c := range list {
		assert.NoError(f.t, second(containers.Remove(f.raw, c.ID, new(containers.RemoveOptions).WithForce(true).WithTimeout(0))), "remove container %s", c.ID)
	}
}

// TestKilledDriverSecretsSwept kills the driver process (SIGKILL) at random
// moments of many Runs with SecretEnv, over the plugin wire, which leaves
// secrets in Podman's store. Once the containers are gone (as the host's
// reconcile removes those of dead jobs) and the grace has passed (on the
// sweeping driver's clock), one ListContainers, which the host's reconcile
// calls on every run and gc, leaves none of them behind.
func TestKilledDriverSecretsSwept(t *testing.T) {
	f := newFixture(t)
	const grace = 2 * time.Second
	w := openWire(t, map[string]string{"secret_grace": grace.String()})
	t.Cleanup(f.removeLabelled)
	before := secretNames(t, f.raw)
	newSecrets := func() []string {
		var out []string
		for n := range secretNames(t, f.raw) {
			if !before[n] && strings.HasPrefix(n, secretPrefix) {
				out = append(out, n)
			}
		}
		return out
	}
	spec := func(i int) runtime.ContainerSpec {
		s := f.spec("true")
		s.SecretEnv = []string{"TOKEN=s3cr3t-" + f.id, "OTHER=another-" + f.id}
		if i%2 == 1 { // named by the caller, else by the driver
			s.Name = fmt.Sprintf("berth-test-kill-%s-%d", f.id, i)
		}
		return s
	}

	// How long a Run takes, to aim the kills within it.
	start := time.Now()
	c, err := w.Run(f.ctx, spec(0))
	require.NoError(t, err, "Run")
	runTime := time.Since(start)
	require.NoError(t, w.Remove(f.ctx, c.ID), "Remove")

	runs := 0
	for ; runs < 12; runs++ {
		require.NoError(t, w.Ping(f.ctx), "Ping") // a live process, launched anew after a kill
		pid := w.Pid()
		done := make(chan error, 1)
		go func() {
			_, err := w.Run(f.ctx, spec(runs))
			done <- err
		}()
		time.Sleep(rand.N(runTime + runTime/4))
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL), "kill the driver process %d", pid)
		<-done
	}
	left := newSecrets()
	t.Logf("%d runs killed; they left %d secrets: %v", runs, len(left), left)
	require.False(t, len(left) == 0, "no kill of %d left a secret behind: the test proves nothing", runs)
	f.removeLabelled()

	// The sweep, by a driver whose clock reads the moment the youngest of
	// them is as old as the grace: a request of a killed driver that lands
	// later makes a younger secret, not one of these.
	sweeper := New(Options{SecretGrace: grace})
	created := secretsCreated(t, f.raw)
	var youngest time.Time
	for _, n := range left {
		if c := created[n]; c.After(youngest) {
			youngest = c
		}
	}
	sweeper.now = func() time.Time { return youngest.Add(grace) }
	require.NoError(t, second(sweeper.ListContainers(f.ctx, runtime.LabelFilter{testLabel: f.id})), "ListContainers")
	now := secretNames(t, f.raw)
	live := containerNames(t, f.raw)
	for _, n := range left {
		if !now[n] {
			continue
		}
		tie, _ := tieOf(n)
		assert.True(t, live[tie], "secret %s of a removed container is left after the sweep", n)
	}
}

// TestStaleSecretsRemoved checks which secrets Remove and ListContainers
// delete: berth's, of a container that no longer exists, older than the
// grace; never one of a container that exists, one younger than the grace
// (a Run in progress makes its secrets before its container) or one not
// of berth's naming.
func TestStaleSecretsRemoved(t *testing.T) {
	f := newFixture(t)
	const grace = 10 * time.Minute
	d := New(Options{SecretGrace: grace})
	name := "berth-test-secrets-" + f.id
	s := f.spec("sleep", "30")
	s.Name = name
	c := f.run(s)
	create := func(secret string) string {
		t.Helper()
		require.NoError(t, second(secrets.Create(f.raw, strings.NewReader("v"), new(secrets.CreateOptions).WithName(secret))), "secrets.Create(%s)", secret)
		t.Cleanup(func() { _ = secrets.Remove(f.raw, secret) })
		return secret
	}
	held := create(secretName(name, randomHex(nonceBytes), 0))                     // of a container that exists
	gone := create(secretName(name+"-gone", randomHex(nonceBytes), 1))             // of none
	legacy := create(secretPrefix + randomHex(8) + "-0")                           // an earlier driver's
	foreign := create("berth-test-foreign-" + f.id)                                // not berth's
	long := create(secretName(strings.Repeat("n", 300), randomHex(nonceBytes), 0)) // of none, too long a name
	fresh := create(secretName(name+"-fresh", randomHex(nonceBytes), 0))           // of a Run in progress

	// The driver's clock reads the moment the secrets made before fresh
	// are as old as the grace, and fresh, made after them, is younger.
	created := secretsCreated(t, f.raw)
	var before time.Time
	for _, n := range []string{held, gone, legacy, foreign, long} {
		if created[n].After(before) {
			before = created[n]
		}
	}
	require.True(t, created[fresh].After(before), "Podman says secret %s was made at %v, not after the others (%v)", fresh, created[fresh], before)
	d.now = func() time.Time { return before.Add(grace) }

	check := func(when string, want map[string]bool) {
		t.Helper()
		have := secretNames(t, f.raw)
		for secret, kept := range want {
			assert.Equal(t, kept, have[secret], "%s: secret %s present: %v, want %v", when, secret, have[secret], kept)
		}
	}
	require.NoError(t, second(d.ListContainers(f.ctx, runtime.LabelFilter{testLabel: f.id})), "ListContainers")
	check("after ListContainers", map[string]bool{held: true, gone: false, legacy: false, foreign: true, long: false, fresh: true})
	require.NoError(t, d.Remove(f.ctx, c.ID), "Remove")
	check("after Remove", map[string]bool{held: false, foreign: true, fresh: true})
	d.now = func() time.Time { return created[fresh].Add(grace) }
	require.NoError(t, second(d.ListContainers(f.ctx, nil)), "ListContainers")
	check("after the grace", map[string]bool{foreign: true, fresh: false})
}

// podmanSecretName is Podman 4.3's rule for secret names.
var podmanSecretName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}[a-zA-Z0-9]$`)

// TestSecretNames checks that a secret's name gives back the tie of its
// container, and fits Podman's limit, whatever the container's name.
func TestSecretNames(t *testing.T) {
	nonce := randomHex(nonceBytes)
	for _, ctr := range []string{"berth-j0123456789abcdef0123", "a", "x-0123456789abcdef", "0123456789abcdef", "with.dots_and-dashes-7", strings.Repeat("n", 40), strings.Repeat("n", 41), strings.Repeat("n", 400)} {
		name := secretName(ctr, nonce, maxSecretEnv-1)
		tie, ok := tieOf(name)
		assert.False(t, !ok || tie != secretTie(ctr), "tieOf(%q) = %q, %v; want %q", name, tie, ok, secretTie(ctr))
		assert.False(t, len(name) > maxSecretName || !podmanSecretName.MatchString(name), "secret name %q (%d characters) is not one Podman accepts", name, len(name))
	}
	tie, ok := tieOf(secretPrefix + randomHex(8) + "-3")
	assert.False(t, !ok || tie != "", "an earlier driver's secret: tie %q, %v; want the empty tie", tie, ok)
	for _, name := range []string{"other", secretPrefix, secretPrefix + "x", secretPrefix + "x-1", secretPrefix + "x-nothex-1", secretPrefix + "x-" + nonce + "-y"} {
		tie, ok := tieOf(name)
		assert.False(t, ok, "tieOf(%q) = %q, true; want not berth's", name, tie)
	}
}
