package wire_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime/wire"
)

// setOf returns a Set whose drivers are the test driver with opts, and
// counts its launches; the Set is closed at the end of the test.
func setOf(t *testing.T, opts map[string]string) (*wire.Set, *atomic.Int32) {
	t.Helper()
	var launches atomic.Int32
	s := wire.NewSet(func(string) (wire.Config, error) {
		launches.Add(1)
		return wire.Config{Path: driverBin, Options: opts, Logger: quiet()}, nil
	})
	t.Cleanup(func() { _ = s.Close() })
	return s, &launches
}

// startedPid waits for the driver process to write its pid to pidfile.
func startedPid(t *testing.T, pidfile string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(pidfile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(string(data))
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "the driver process did not start (no pid in %s)", pidfile)
	return pid
}

// Callers asking for one name at once share one launch and one driver.
func TestSetSharesALaunch(t *testing.T) {
	s, launches := setOf(t, nil)
	var wg sync.WaitGroup
	drivers := make([]*wire.Driver, 8)
	for i := range drivers {
		wg.Go(func() {
			d, err := s.Driver(context.Background(), "mem")
			assert.NoError(t, err)
			drivers[i] = d
		})
	}
	wg.Wait()
	require.NotNil(t, drivers[0], "the first caller's driver")
	for _, d := range drivers[1:] {
		assert.Same(t, drivers[0], d, "every caller gets the same driver")
	}
	assert.EqualValues(t, 1, launches.Load(), "launches")
	assert.NoError(t, drivers[0].Ping(context.Background()))
}

// Close, while a driver hangs at its start (no handshake line yet), returns
// at once and leaves no process, whether a caller waits for the launch or
// it was only warmed (nobody to cancel it but Close).
func TestSetCloseDuringLaunch(t *testing.T) {
	for _, warm := range []bool{false, true} {
		t.Run(map[bool]string{false: "waited for", true: "warmed"}[warm], func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			s, _ := setOf(t, map[string]string{"block": "1", "pidfile": pidfile})
			got := make(chan error, 1)
			if warm {
				s.Warm("mem")
			} else {
				go func() {
					_, err := s.Driver(context.Background(), "mem")
					got <- err
				}()
			}
			pid := startedPid(t, pidfile)
			begin := time.Now()
			require.NoError(t, s.Close())
			assert.Less(t, time.Since(begin), 5*time.Second, "Close's wait for a hanging launch")
			assert.False(t, alive(pid), "driver process %d after Close", pid)
			if !warm {
				require.ErrorIs(t, <-got, context.Canceled, "the waiting caller's error")
			}
			_, err := s.Driver(context.Background(), "mem")
			require.ErrorIs(t, err, wire.ErrClosed, "Driver after Close")
		})
	}
}

// A caller that gives up stops a launch nobody else waits for; the next
// call launches again.
func TestSetCallerGivesUp(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	s, launches := setOf(t, map[string]string{"block": "1", "pidfile": pidfile})
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := s.Driver(ctx, "mem")
		got <- err
	}()
	pid := startedPid(t, pidfile)
	cancel()
	require.ErrorIs(t, <-got, context.Canceled, "Driver's error once its ctx is done")
	require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 10*time.Millisecond,
		"the abandoned launch's process %d is still there", pid)

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := s.Driver(ctx, "mem")
	require.ErrorIs(t, err, context.DeadlineExceeded, "Driver of a driver that hangs")
	assert.EqualValues(t, 2, launches.Load(), "launches: the second call launched again")
}

// Drop stops a driver; the next call launches a new process.
func TestSetDrop(t *testing.T) {
	s, launches := setOf(t, nil)
	d, err := s.Driver(context.Background(), "mem")
	require.NoError(t, err)
	pid := d.Pid()
	s.Drop("mem")
	assert.False(t, alive(pid), "dropped driver's process %d", pid)
	d2, err := s.Driver(context.Background(), "mem")
	require.NoError(t, err)
	assert.NotEqual(t, pid, d2.Pid(), "the driver after Drop is a new process")
	assert.EqualValues(t, 2, launches.Load(), "launches")
}
