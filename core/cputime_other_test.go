//go:build !unix

package core

import "time"

// cpuTime would return the CPU time the process has used; outside Unix
// the benchmarks report none (0).
func cpuTime() time.Duration { return 0 }
