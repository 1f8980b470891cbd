package main

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/runtime"
)

func TestDetectOrder(t *testing.T) {
	for _, c := range []struct {
		name    string
		healthy []string
		want    string
		pinged  []string
	}{
		{"first answers", []string{"docker", "podman", "containerd"}, "docker", []string{"docker"}},
		{"first does not", []string{"podman", "containerd"}, "podman", []string{"docker", "podman"}},
		{"only the last", []string{"containerd"}, "containerd", []string{"docker", "podman", "containerd"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pinged []string
			ping := func(ctx context.Context, name string) error {
				pinged = append(pinged, name)
				_, ok := ctx.Deadline()
				assert.True(t, ok, "ping %s has a deadline", name)
				if slices.Contains(c.healthy, name) {
					return nil
				}
				return runtime.ErrUnavailable
			}
			got, err := detect(context.Background(), config.Probed, ping)
			require.NoError(t, err)
			require.Equal(t, c.want, got, "the engine detected")
			assert.Equal(t, c.pinged, pinged, "the engines pinged, in order")
		})
	}
}

func TestDetectNone(t *testing.T) {
	var pinged []string
	ping := func(_ context.Context, name string) error {
		pinged = append(pinged, name)
		return runtime.ErrUnavailable
	}
	_, err := detect(context.Background(), config.Probed, ping)
	require.ErrorIs(t, err, runtime.ErrUnavailable)
	assert.Equal(t, config.Probed, pinged, "the engines pinged: every one, in order")
}

// A cancelled command stops looking at once, with its context's error.
func TestDetectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pinged := 0
	ping := func(context.Context, string) error {
		pinged++
		cancel()
		return runtime.ErrUnavailable
	}
	_, err := detect(ctx, config.Probed, ping)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, pinged, "pings before detect gave up")
}

func TestProbedOrder(t *testing.T) {
	assert.Equal(t, []string{"docker", "podman", "containerd"}, config.Probed, "config.Probed: the documented order")
}
