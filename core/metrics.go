package core

import (
	"maps"
	"sync"
)

// counters keeps the core's counters and forwards every change to the
// configured Metrics.
type counters struct {
	mu   sync.Mutex
	vals map[string]float64
	sink Metrics
}

func newCounters(sink Metrics) *counters {
	c := &counters{vals: map[string]float64{}, sink: sink}
	for _, name := range []string{MetricJobs, MetricHits, MetricMisses, MetricCommits,
		MetricCommitFailures, MetricEvictions, MetricBytesReclaimed, MetricOrphans,
		MetricPushes, MetricPushFailures, MetricPulls, MetricPullFailures} {
		c.vals[name] = 0
	}
	return c
}

func (c *counters) add(name string, delta float64) {
	if delta == 0 {
		return
	}
	c.mu.Lock()
	c.vals[name] += delta
	c.mu.Unlock()
	if c.sink != nil {
		c.sink.Add(name, delta)
	}
}

func (c *counters) snapshot() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.vals)
}
