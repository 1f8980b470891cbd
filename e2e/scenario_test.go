package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/berth-dev/berth/runtime/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestE2E runs the scenario once per runtime under test.
func TestE2E(t *testing.T) {
	names, err := requested()
	require.NoError(t, err, "the runtimes to test")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			scenario(t, newSuite(t, targets[name]))
		})
	}
}

// scenario runs every step against the runtime of s, each step with its
// own state directory and project.
func scenario(t *testing.T, s *suite) {
	for _, step := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"cold and warm", coldAndWarm},
		{"failing run", failingRun},
		{"timeout", timedOut},
		{"interrupt", interrupted},
		{"snapshots rm", snapshotsRm},
		{"fork", fork},
		{"gc", gc},
		{"gc after kill", gcAfterKill},
		{"bad input", badInput},
		{"users objects", usersObjects},
		{"other pid namespace", otherPIDNamespace},
		{"deadline after kill", deadlineAfterKill},
		{"one gc", oneGC},
		{"secrets never shown", secretsNeverShown},
		{"secrets not in images", secretsNotInImages},
		{"stress one item", stressOneItem},
		{"stress three items", stressThreeItems},
		{"generations", generations},
		{"daemon killed", daemonKilled},
		{"daemon stops", daemonStops},
		{"driver killed", driverKilled},
		{"engine restarted", engineRestarted},
		{"crash injected", crashInjected},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.fn(t, s.newEnv(t))
		})
	}
}

// newSuite checks that the runtime's engine answers, writes the base image
// archive and, once the scenario is over, removes the base image.
func newSuite(t *testing.T, tg target) *suite {
	t.Helper()
	if tg.address != "" {
		path := strings.TrimPrefix(tg.address, "unix://")
		conn, err := net.DialTimeout("unix", path, 5*time.Second)
		drivertest.Engine{Name: tg.name + " engine at " + path, Err: err}.Need(t)
		conn.Close()
	}
	s := &suite{tg: tg, base: "berth-e2e/base:" + randomID()}
	opts := testimage.Options{}
	if tg.module == "" {
		opts.Busybox = []byte("the fake runs no binaries")
	}
	tarball, err := testimage.Tar(opts)
	require.NoError(t, err, "build the base image archive")
	s.tarball = filepath.Join(t.TempDir(), "base.tar")
	require.NoError(t, os.WriteFile(s.tarball, tarball, 0o644), "write the base image archive")
	if tg.module != "" {
		t.Cleanup(func() { s.removeBase(t) })
	}
	return s
}

// removeBase checks that the engine holds nothing made by the scenario and
// removes the base image it imported.
func (s *suite) removeBase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := wire.Open(ctx, wire.Config{Path: filepath.Join(binDir, "berth-driver-"+s.tg.name), Options: s.tg.options, Logger: quiet})
	if !assert.NoError(t, err, "open the driver") {
		return
	}
	defer d.Close()
	for _, p := range s.projects {
		cs, err := d.ListContainers(ctx, managed(p))
		assert.True(t, err == nil && len(cs) == 0, "project %s: want no container left, got %+v (list error: %v)", p, cs, err)
		imgs, err := d.ListImages(ctx, managed(p))
		assert.True(t, err == nil && len(imgs) == 0, "project %s: want no image left, got %+v (list error: %v)", p, imgs, err)
	}
	if err := d.RemoveImage(ctx, s.base); err != nil {
		assert.ErrorIs(t, err, runtime.ErrNotFound, "remove the base image %s: want it removed or already gone", s.base)
	}
	_, err = d.InspectImage(ctx, s.base)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "the base image %s after its removal", s.base)
}
