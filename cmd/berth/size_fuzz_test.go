package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
)

// FuzzHumanBytes: humanBytes prints any size, and what it prints for sizes
// below an EiB (as a float64; the largest unit ParseSize knows is p) parses back to the
// size to within the printed precision (4 significant digits).
func FuzzHumanBytes(f *testing.F) {
	for _, n := range []int64{0, 1, 1023, 1024, 1536, 1<<20 - 1, 1 << 20, 5<<30 + 1<<29, 1<<50 - 1, 1 << 50, 1<<60 - 1, 1 << 60, math.MaxInt64, -1, math.MinInt64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		s := humanBytes(n)
		if n < 0 || float64(n) >= 1<<60 { // printed in EiB
			return
		}
		got, err := config.ParseSize(s)
		require.NoError(t, err, "humanBytes(%d) = %q: ParseSize", n, s)
		// Rounding to 4 significant digits moves the value by at most
		// half a unit of the 4th digit: n/2000; plus truncation and
		// float rounding.
		tol := n/2000 + 1
		if n < 1024 {
			tol = 0
		}
		require.InDelta(t, n, got, float64(tol), "humanBytes(%d) = %q, which parses back to %d", n, s, got)
	})
}
