package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

// pingTimeout bounds the launch, info and ping of each runtime for GET
// /v1/runtimes.
const pingTimeout = 10 * time.Second

// listRuntimes launches (if needed) and pings every runtime, side by side.
func (s *Server) listRuntimes(w http.ResponseWriter, r *http.Request) {
	var names []string
	if s.opts.Runtimes != nil {
		names = s.opts.Runtimes.Names()
	}
	list := api.RuntimeList{Runtimes: make([]api.Runtime, len(names))}
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { list.Runtimes[i] = s.probe(r.Context(), name, i == 0) })
	}
	wg.Wait()
	ok(w, list)
}

// probe asks the runtime name for its info and health.
func (s *Server) probe(ctx context.Context, name string, def bool) api.Runtime {
	out := api.Runtime{Name: name, Default: def}
	if s.opts.Driver != nil {
		if d := s.opts.Driver(name); d != "" {
			out.Driver = &d
		}
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	rt, err := s.opts.Runtimes.Runtime(ctx, name)
	if err != nil {
		out.Health = "cannot start: " + oneLine(err.Error())
		return out
	}
	if info, err := rt.Info(ctx); err == nil {
		out.Version, out.EngineVersion = &info.Version, &info.EngineVersion
		out.ProtocolVersion = &info.ProtocolVersion
		out.Capabilities = make([]string, len(info.Capabilities))
		for i, c := range info.Capabilities {
			out.Capabilities[i] = string(c)
		}
	}
	if err := rt.Ping(ctx); err != nil {
		out.Health = "unavailable: " + oneLine(err.Error())
		return out
	}
	out.Healthy, out.Health = true, "ok"
	return out
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ok(w, api.Health{Status: "ok"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	err := s.readiness()
	switch {
	case err == nil:
		ok(w, api.Health{Status: "ready"})
	case errors.Is(err, core.ErrDraining):
		s.problem(w, r, http.StatusServiceUnavailable, string(core.KindDraining), err.Error())
	default:
		s.problem(w, r, http.StatusServiceUnavailable, api.KindNotReady, err.Error())
	}
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := api.OpenAPIJSON()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// oneLine folds s onto a single line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
