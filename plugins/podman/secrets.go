package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/secrets"
)

// createSecrets stores each non-empty value of env (KEY=VALUE entries) as
// a Podman secret named berth-env-TOKEN-N and returns the secret names by
// key, for the spec's secret_env. On error it returns the secrets made so
// far, for removeSecrets.
func (d *Driver) createSecrets(c context.Context, token string, env []string) (map[string]string, error) {
	made := map[string]string{}
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			continue // Podman refuses empty secrets: Run passes it as plain env
		}
		name := fmt.Sprintf("berth-env-%s-%d", token, i)
		if _, err := secrets.Create(c, strings.NewReader(v), new(secrets.CreateOptions).WithName(name)); err != nil {
			return made, d.wrap(c, "run: secret for "+k, err)
		}
		made[k] = name
	}
	return made, nil
}

// removeSecrets deletes the secrets of a Run, even after ctx was cancelled.
// A secret that cannot be deleted is left for `podman secret rm`; its name
// says it is berth's.
func (d *Driver) removeSecrets(ctx context.Context, names map[string]string) {
	if len(names) == 0 {
		return
	}
	bg, cancel := background(ctx)
	defer cancel()
	c, err := d.client(bg)
	if err != nil {
		return
	}
	for _, name := range names {
		_ = secrets.Remove(c, name)
	}
}
