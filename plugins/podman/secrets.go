package podman

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/secrets"
)

// The secrets of a Run are named berth-env-TIE-NONCE-N: TIE ties them to
// the container they are for (secretTie of its name), NONCE is the Run's
// own (so that no two Runs share a name, even for the same container name)
// and N is the index of the SecretEnv entry. A secret of berth's whose
// container no longer exists is stale once it is older than the grace: its
// Run died before deleting it (see sweepSecrets).
const secretPrefix = "berth-env-"

// DefaultSecretGrace is how old a secret of berth's without its container
// must be before the driver deletes it. A Run creates its secrets before
// its container, so a younger secret may be one of a Run in progress.
const DefaultSecretGrace = 10 * time.Minute

// maxSecretName is the longest secret name Podman accepts (4.3 accepts
// 64 characters of [a-zA-Z0-9_.-], later versions 253).
const maxSecretName = 64

// maxSecretEnv bounds the entries of a SecretEnv: N has at most 4 digits.
const maxSecretEnv = 10000

// nonceBytes is the size of a Run's nonce (hex-encoded in names).
const nonceBytes = 4

// secretReserve is what a secret's name holds besides the prefix and the
// tie: "-NONCE" and "-N".
const secretReserve = 1 + 2*nonceBytes + 1 + 4

// noncePattern matches a Run's nonce; legacyPattern the token of an earlier
// driver's secret (berth-env-TOKEN-N).
var (
	noncePattern  = regexp.MustCompile(`^[0-9a-f]{8}$`)
	legacyPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// secretTie returns the part of a secret's name that ties it to the
// container named name: the name itself (berth's own container names fit),
// or, for a name too long to fit in a secret's name, "h-" and a hash of it.
func secretTie(name string) string {
	if len(secretPrefix)+len(name)+secretReserve <= maxSecretName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "h-" + hex.EncodeToString(sum[:8])
}

// secretName returns the name of the secret of entry i of a Run with
// nonce for the container named ctr.
func secretName(ctr, nonce string, i int) string {
	return fmt.Sprintf("%s%s-%s-%d", secretPrefix, secretTie(ctr), nonce, i)
}

// tieOf returns the tie in the name of a secret of berth's, and ok false
// for a name not of berth's form. The secrets of earlier versions of the
// driver (berth-env-TOKEN-N) have the empty tie: no container has it.
func tieOf(secret string) (tie string, ok bool) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return "", false
	}
	if _, err := strconv.ParseUint(rest[i+1:], 10, 32); err != nil {
		return "", false
	}
	rest = rest[:i]
	if legacyPattern.MatchString(rest) {
		return "", true // berth-env-TOKEN-N
	}
	i = strings.LastIndexByte(rest, '-')
	if i <= 0 || !noncePattern.MatchString(rest[i+1:]) {
		return "", false
	}
	return rest[:i], true
}

// createSecrets stores each non-empty value of env (KEY=VALUE entries) as
// a Podman secret named for the container ctr and returns the secret names
// by key, for the spec's secret_env. On error it returns the secrets made
// so far, for removeSecrets.
func (d *Driver) createSecrets(c context.Context, ctr string, env []string) (map[string]string, error) {
	made := map[string]string{}
	nonce := randomHex(nonceBytes)
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			continue // Podman refuses empty secrets: Run passes it as plain env
		}
		name := secretName(ctr, nonce, i)
		if _, err := secrets.Create(c, strings.NewReader(v), new(secrets.CreateOptions).WithName(name)); err != nil {
			return made, d.wrap(c, "run: secret for "+k, err)
		}
		made[k] = name
	}
	return made, nil
}

// removeSecrets deletes the secrets of a Run, even after ctx was cancelled.
// A secret that cannot be deleted (or a driver that dies first) leaves it
// to sweepSecrets.
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

// sweepSecrets deletes berth's stale secrets: those whose container no
// longer exists and that are older than the driver's grace. It costs one
// listing of the secrets when there is nothing to delete. c is a context
// of d.client.
func (d *Driver) sweepSecrets(c context.Context) error {
	list, err := secrets.List(c, nil)
	if err != nil {
		return d.wrap(c, "list secrets", err)
	}
	now := d.now()
	type candidate struct{ id, name, tie string }
	var old []candidate
	for _, s := range list {
		if tie, ok := tieOf(s.Spec.Name); ok && now.Sub(s.CreatedAt) >= d.secretGrace {
			old = append(old, candidate{s.ID, s.Spec.Name, tie})
		}
	}
	if len(old) == 0 {
		return nil
	}
	// The containers are listed after the secrets: a container made since
	// is one of a Run younger than the grace, whose secrets are not
	// candidates.
	all := true
	ctrs, err := containers.List(c, &containers.ListOptions{All: &all})
	if err != nil {
		return d.wrap(c, "list containers", err)
	}
	live := map[string]bool{}
	for _, ctr := range ctrs {
		for _, name := range ctr.Names {
			live[secretTie(name)] = true
		}
	}
	var errs []error
	for _, s := range old {
		if s.tie != "" && live[s.tie] {
			continue
		}
		if err := secrets.Remove(c, s.id); err != nil && !isStatus(err, http.StatusNotFound) {
			errs = append(errs, d.wrap(c, "remove stale secret "+s.name, err))
		}
	}
	return errors.Join(errs...)
}
