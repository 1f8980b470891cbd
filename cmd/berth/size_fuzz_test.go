package main

import (
	"math"
	"strings"
	"testing"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
)

// FuzzHumanBytes: humanBytes prints any size, and what it prints for sizes
// below a PiB (the largest unit ParseSize knows is t) parses back, its space
// taken out, to the size to within the printed precision.
func FuzzHumanBytes(f *testing.F) {
	for _, n := range []int64{0, 1, 1023, 1024, 1536, 1<<20 - 1, 1 << 20, 5<<30 + 1<<29, 1<<50 - 1, 1 << 50, math.MaxInt64, -1, math.MinInt64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		s := humanBytes(n)
		if n < 0 || n >= 1<<50 {
			return
		}
		got, err := config.ParseSize(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatalf("humanBytes(%d) = %q: ParseSize: %v", n, s, err)
		}
		// One decimal of the unit: within 0.05 units, plus float rounding.
		unit := int64(1)
		for unit*1024 <= n {
			unit *= 1024
		}
		if diff := got - n; unit > 1 && (diff > unit/20+1 || -diff > unit/20+1) || unit == 1 && diff != 0 {
			t.Fatalf("humanBytes(%d) = %q, which parses back to %d", n, s, got)
		}
	})
}
