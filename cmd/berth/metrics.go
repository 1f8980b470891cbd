package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/gofrs/flock"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsNamespace prefixes every metric berth writes.
const metricsNamespace = "berth"

// writeMetrics adds the core's counters of this invocation to those in the
// metrics file and rewrites it (atomically, under a lock) in the Prometheus
// text format, for node_exporter's textfile collector. It does nothing
// without a metrics file or a core.
func (a *app) writeMetrics() error {
	if a.metricsFile == "" || a.core == nil {
		return nil
	}
	return addMetrics(a.metricsFile, a.core.Counters())
}

// addMetrics adds counters (named as the core names them) to the berth
// counters in the text-format file path and rewrites it.
func addMetrics(path string, counters map[string]float64) error {
	lock := flock.New(path+".lock", flock.SetPermissions(0o644))
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("--metrics-file: lock: %w", err)
	}
	defer lock.Unlock()

	totals, err := readCounters(path)
	if err != nil {
		return fmt.Errorf("--metrics-file: %w", err)
	}
	for name, v := range counters {
		totals[metricsNamespace+"_"+name] += v
	}
	reg := prometheus.NewRegistry()
	for name, v := range totals {
		c := prometheus.NewCounter(prometheus.CounterOpts{
			Name: name,
			Help: "berth counter " + strings.TrimPrefix(name, metricsNamespace+"_") + ", summed over the commands that wrote this file.",
		})
		c.Add(v)
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("--metrics-file: %w", err)
		}
	}
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("--metrics-file: %w", err)
	}
	return nil
}

// readCounters returns the berth counters in the text-format file path
// (none if it does not exist).
func readCounters(path string) (map[string]float64, error) {
	totals := map[string]float64{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return totals, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for name, fam := range families {
		if !strings.HasPrefix(name, metricsNamespace+"_") {
			continue
		}
		for _, m := range fam.GetMetric() {
			if c := m.GetCounter(); c != nil {
				totals[name] += c.GetValue()
			}
		}
	}
	return totals, nil
}
