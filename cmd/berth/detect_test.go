package main

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berth-dev/berth/runtime"
)

// listen serves a unix socket at dir/name for the test's duration.
func listen(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return "unix://" + p
}

func TestDetectOrder(t *testing.T) {
	dir := t.TempDir()
	docker := listen(t, dir, "docker.sock")
	podman := listen(t, dir, "podman.sock")
	containerd := filepath.Join(dir, "containerd.sock")
	if _, err := net.Listen("unix", containerd); err != nil {
		t.Fatal(err)
	}
	missing := "unix://" + filepath.Join(dir, "missing.sock")

	healthy := func(names ...string) func(context.Context, string) error {
		return func(_ context.Context, name string) error {
			if slices.Contains(names, name) {
				return nil
			}
			return runtime.ErrUnavailable
		}
	}
	for _, c := range []struct {
		name    string
		cs      []candidate
		healthy []string
		want    string
	}{
		{"first answers", []candidate{{"docker", docker}, {"podman", podman}, {"containerd", containerd}},
			[]string{"docker", "podman", "containerd"}, "docker"},
		{"socket missing", []candidate{{"docker", missing}, {"podman", podman}, {"containerd", containerd}},
			[]string{"docker", "podman", "containerd"}, "podman"},
		{"ping fails", []candidate{{"docker", docker}, {"podman", podman}, {"containerd", containerd}},
			[]string{"containerd"}, "containerd"},
		{"bare path", []candidate{{"docker", missing}, {"containerd", containerd}},
			[]string{"containerd"}, "containerd"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pinged []string
			ping := func(ctx context.Context, name string) error {
				pinged = append(pinged, name)
				return healthy(c.healthy...)(ctx, name)
			}
			got, err := detect(context.Background(), c.cs, ping)
			if err != nil || got != c.want {
				t.Fatalf("detect = %q, %v; want %q", got, err, c.want)
			}
			if pinged[len(pinged)-1] != c.want {
				t.Errorf("pinged %v after choosing", pinged)
			}
		})
	}
}

func TestDetectNone(t *testing.T) {
	dir := t.TempDir()
	up := listen(t, dir, "up.sock")
	pinged := 0
	ping := func(context.Context, string) error { pinged++; return runtime.ErrUnavailable }
	_, err := detect(context.Background(), []candidate{
		{"docker", "unix://" + filepath.Join(dir, "none.sock")},
		{"podman", up},
	}, ping)
	if !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("detect = %v, want ErrUnavailable", err)
	}
	if pinged != 1 {
		t.Errorf("pinged %d drivers, want 1 (only the socket that answers)", pinged)
	}
}

func TestCandidatesOrder(t *testing.T) {
	var names []string
	for _, c := range candidates() {
		names = append(names, c.name)
	}
	if !slices.Equal(names, []string{"docker", "podman", "containerd"}) {
		t.Errorf("candidates = %v", names)
	}
}
