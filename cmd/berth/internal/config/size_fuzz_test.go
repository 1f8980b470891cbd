package config

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sizeGrammar is ParseSize's documented grammar, lowercased and trimmed: a
// decimal number, at most one space, then a unit letter (required for a
// fraction) with an optional "b" or "ib", or "b" alone.
var sizeGrammar = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+) ?(?:([kmgtp])(?:ib|b)?|b)?$`)

var unitShift = map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}

// exactSize returns the exact value of s under sizeGrammar, or nil if s is
// not in it.
func exactSize(s string) *big.Rat {
	m := sizeGrammar.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil || (m[2] == "" && strings.Contains(m[1], ".")) {
		return nil
	}
	r, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return nil
	}
	return r.Mul(r, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), unitShift[m[2]])))
}

// FuzzParseSize: ParseSize never panics, accepts exactly its documented
// grammar, returns the value written (integers up to 2^53 exactly, others
// to within float64's precision: go-units reads the number as a float),
// and refuses a negative size or one over math.MaxInt64 instead of
// wrapping. Besides the string s, the integer n written with the unit,
// letter case and suffix that form picks parses back to n times the unit,
// or to an error when that overflows.
func FuzzParseSize(f *testing.F) {
	for i, s := range []string{
		"0", "1048576", "512b", "64k", "64KiB", "512m", "512MB", "1g", "1G", "1.5g", "2t", " 8m ",
		"", "m", "12q", "-1", "-1g", "1e9", "1.5", "ten", "1..5g", "99999999999t", "NaNg", "1 g",
		"9223372036854775807", "9223372036854775808", "8388607t", "8388608t", "8388607.999999t",
		"0x10", "infg", "+1", "1_000", ".5k", "5.k", "1ib", "\t1\n", "٣k",
		"2p", "1 b", "1.5 ib", "1  g", "1gg", "1bib", "9007199254740993", "1 ", " .5 MiB",
	} {
		f.Add(s, []int64{0, 512, math.MaxInt64, 8388608, -1, 1 << 53}[i%6], uint8(i*37))
	}
	maxInt := new(big.Rat).SetInt64(math.MaxInt64)
	f.Fuzz(func(t *testing.T, s string, n int64, form uint8) {
		checkSize(t, s, maxInt)
		checkSizeFormat(t, n, form)
	})
}

func checkSize(t *testing.T, s string, maxInt *big.Rat) {
	t.Helper()
	got, err := ParseSize(s)
	exact := exactSize(s)
	if err != nil {
		require.Zero(t, got, "ParseSize(%q) with error %v", s, err)
		// A size in the grammar is refused only for being too large
		// (float rounding may tip a value just under the limit over it).
		if exact != nil {
			require.GreaterOrEqual(t, exact.Cmp(new(big.Rat).Mul(maxInt, big.NewRat(1<<52-1, 1<<52))), 0,
				"ParseSize(%q): %v; want %s", s, err, exact.FloatString(3))
		}
		if strings.HasPrefix(strings.TrimSpace(s), "-") {
			require.ErrorContains(t, err, "negative", "ParseSize(%q): want it to say negative", s)
		}
		return
	}
	require.GreaterOrEqual(t, got, int64(0), "ParseSize(%q): negative", s)
	require.NotNil(t, exact, "ParseSize(%q) = %d, want an error: not a size as documented", s, got)
	require.LessOrEqual(t, exact.Cmp(new(big.Rat).Mul(maxInt, big.NewRat(1<<52+1, 1<<52))), 0,
		"ParseSize(%q) = %d, want an error: %s is too large", s, got, exact.FloatString(0))
	require.True(t, nearSize(got, exact, !strings.Contains(s, ".")), "ParseSize(%q) = %d, want %s", s, got, exact.FloatString(3))
}

// nearSize reports whether got is the size exact: to the byte for an
// integer up to 2^53 (a float64 holds it exactly), else within float64's
// precision, truncated.
func nearSize(got int64, exact *big.Rat, integer bool) bool {
	diff := new(big.Rat).Sub(exact, new(big.Rat).SetInt64(got))
	diff.Abs(diff)
	tol := new(big.Rat).Add(new(big.Rat).Mul(exact, big.NewRat(1, 1<<50)), big.NewRat(1, 1))
	if integer && exact.Cmp(new(big.Rat).SetInt64(1<<53)) <= 0 {
		tol.SetInt64(0)
	}
	return diff.Cmp(tol) <= 0
}

var (
	sizeUnits    = []string{"", "k", "m", "g", "t", "p"}
	sizeSuffixes = []string{"", "b", "ib"}
)

func checkSizeFormat(t *testing.T, n int64, form uint8) {
	t.Helper()
	unit := sizeUnits[int(form)%len(sizeUnits)]
	suffix := sizeSuffixes[int(form/8)%len(sizeSuffixes)]
	s := strconv.FormatInt(n, 10) + unit + suffix
	if form&0x80 != 0 {
		s = strings.ToUpper(s)
	}
	got, err := ParseSize(s)
	shift := unitShift[unit]
	exact := new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(n), shift))
	// n<<shift may round up to 2^63 as a float64, and be refused.
	nearMax := exact.Cmp(new(big.Rat).Mul(new(big.Rat).SetInt64(math.MaxInt64), big.NewRat(1<<52-1, 1<<52))) >= 0
	switch {
	case n < 0:
		require.ErrorContains(t, err, "negative", "ParseSize(%q) = %d: want a negative size refused", s, got)
	case unit == "" && suffix == "ib":
		require.Error(t, err, "ParseSize(%q) = %d: want an error (\"ib\" without a unit)", s, got)
	case n > math.MaxInt64>>shift:
		require.Error(t, err, "ParseSize(%q) = %d: want too large", s, got)
	case err != nil:
		require.True(t, nearMax, "ParseSize(%q): %v; want %d", s, err, n<<shift)
	default:
		require.True(t, nearSize(got, exact, true), "ParseSize(%q) = %d; want %d", s, got, n<<shift)
	}
}
