package main

import (
	"context"
	"errors"
	"slices"
	"testing"

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
				if _, ok := ctx.Deadline(); !ok {
					t.Errorf("ping %s without a deadline", name)
				}
				if slices.Contains(c.healthy, name) {
					return nil
				}
				return runtime.ErrUnavailable
			}
			got, err := detect(context.Background(), config.Probed, ping)
			if err != nil || got != c.want {
				t.Fatalf("detect = %q, %v; want %q", got, err, c.want)
			}
			if !slices.Equal(pinged, c.pinged) {
				t.Errorf("pinged %v, want %v", pinged, c.pinged)
			}
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
	if !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("detect = %v, want ErrUnavailable", err)
	}
	if !slices.Equal(pinged, config.Probed) {
		t.Errorf("pinged %v, want every engine in order %v", pinged, config.Probed)
	}
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
	if !errors.Is(err, context.Canceled) || pinged != 1 {
		t.Fatalf("detect = %v after %d pings, want context.Canceled after 1", err, pinged)
	}
}

func TestProbedOrder(t *testing.T) {
	if !slices.Equal(config.Probed, []string{"docker", "podman", "containerd"}) {
		t.Errorf("config.Probed = %v, want docker, podman, containerd (the documented order)", config.Probed)
	}
}
