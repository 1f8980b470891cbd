package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

// The environment variables of the Docker CLI's conventions that choose the
// daemon, besides the client's own (client.FromEnv: DOCKER_HOST,
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION).
const (
	// EnvContext names the Docker context to use (docker --context).
	EnvContext = "DOCKER_CONTEXT"
	// EnvConfig is the Docker CLI's configuration directory (default
	// ~/.docker), which holds config.json and the contexts.
	EnvConfig = "DOCKER_CONFIG"
)

// endpoint is the daemon the driver talks to and how.
type endpoint struct {
	address string
	// from says where the address came from, for errors: "option",
	// "DOCKER_HOST", "context NAME" or "default".
	from string
	// opts are the client options beyond the host: TLS and API version.
	opts []client.Opt
}

// resolve finds the daemon by the Docker CLI's conventions. The address
// option wins; else DOCKER_HOST (with the client's FromEnv: TLS from
// DOCKER_CERT_PATH and DOCKER_TLS_VERIFY, DOCKER_API_VERSION); else the
// current context's docker endpoint (DOCKER_CONTEXT, else currentContext of
// config.json in $DOCKER_CONFIG or ~/.docker; its TLS files if the context
// has any); else DefaultAddress. The context named "default" is the
// default socket, as for the CLI.
func resolve(option string) (endpoint, error) {
	// The parts of client.FromEnv besides DOCKER_HOST, whatever the
	// address: TLS (DOCKER_CERT_PATH, DOCKER_TLS_VERIFY) and
	// DOCKER_API_VERSION.
	ep := endpoint{opts: []client.Opt{client.WithTLSClientConfigFromEnv(), client.WithAPIVersionFromEnv()}}
	switch host := os.Getenv(client.EnvOverrideHost); {
	case option != "":
		ep.address, ep.from = option, "option"
	case host != "":
		ep.address, ep.from = host, client.EnvOverrideHost
	default:
		name, host, tls, err := currentContext()
		if err != nil {
			return endpoint{}, err
		}
		if host != "" {
			ep.address, ep.from = host, "context "+name
			if tls != nil {
				ep.opts = append(ep.opts, client.WithTLSClientConfig(tls.ca, tls.cert, tls.key))
			}
		} else {
			ep.address, ep.from = DefaultAddress, "default"
		}
	}
	ep.opts = append(ep.opts, client.WithHost(ep.address))
	return ep, nil
}

// contextTLS are the TLS files of a context's docker endpoint ("" for a
// file it lacks).
type contextTLS struct{ ca, cert, key string }

// contextMeta is the part of a context's meta.json the driver reads.
type contextMeta struct {
	Name      string
	Endpoints map[string]struct {
		Host string
	}
}

// currentContext returns the name of the Docker CLI's current context, and
// the host and TLS files of its docker endpoint; an empty host when the
// context is the default one or none is set. A context that is named but
// cannot be read is ErrInvalidArgument, as the CLI refuses it too.
func currentContext() (name, host string, tls *contextTLS, err error) {
	dir := os.Getenv(EnvConfig)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", nil, nil // no home: no config, the default
		}
		dir = filepath.Join(home, ".docker")
	}
	name = os.Getenv(EnvContext)
	if name == "" {
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", nil, nil
		}
		var cfg struct{ CurrentContext string }
		if err == nil {
			err = json.Unmarshal(b, &cfg)
		}
		if err != nil {
			return "", "", nil, fmt.Errorf("docker: the Docker CLI's config: %w: %w", runtime.ErrInvalidArgument, err)
		}
		name = cfg.CurrentContext
	}
	if name == "" || name == "default" {
		return name, "", nil, nil
	}
	// The CLI stores a context under the SHA-256 of its name.
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	b, err := os.ReadFile(filepath.Join(dir, "contexts", "meta", id, "meta.json"))
	var meta contextMeta
	if err == nil {
		err = json.Unmarshal(b, &meta)
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("docker: context %q: %w: %w", name, runtime.ErrInvalidArgument, err)
	}
	host = meta.Endpoints["docker"].Host
	if host == "" {
		return "", "", nil, fmt.Errorf("docker: context %q has no docker endpoint: %w", name, runtime.ErrInvalidArgument)
	}
	tlsDir := filepath.Join(dir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(tlsDir); err == nil {
		tls = &contextTLS{}
		for f, p := range map[string]*string{"ca.pem": &tls.ca, "cert.pem": &tls.cert, "key.pem": &tls.key} {
			if _, err := os.Stat(filepath.Join(tlsDir, f)); err == nil {
				*p = filepath.Join(tlsDir, f)
			}
		}
	}
	return name, host, tls, nil
}
