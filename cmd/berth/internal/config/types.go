package config

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration string ("90s",
// "1h30m").
type Duration time.Duration

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return badValue(n, "want a duration such as 30s or 1h, got a %s", kindOf(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return badValue(n, "invalid duration %q (want a number with a unit, e.g. 30s, 5m, 1h30m)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// Size is a number of bytes written as an integer or with a unit suffix
// ("512m", "1g"); see ParseSize.
type Size int64

// UnmarshalYAML parses a size.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return badValue(n, "want a size such as 512m or 1g, got a %s", kindOf(n))
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return badValue(n, "%v", err)
	}
	*s = Size(v)
	return nil
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "scalar"
}

// ParseSize parses a byte size with go-units' RAMInBytes: a non-negative
// decimal number, optionally followed (after at most one space) by a unit,
// k, m, g, t or p (powers of 1024), in either case and with an optional "b"
// or "ib" after the letter, or by "b" alone ("512m", "1g", "1.5G", "64KiB",
// "1048576"). A fraction needs a unit; the result is truncated to a byte.
func ParseSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	bad := fmt.Errorf("invalid size %q (want bytes or a number with a unit: 512m, 1g, 64k)", in)
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("invalid size %q: must not be negative", in)
	}
	// RAMInBytes reads the number with strconv.ParseFloat, which also
	// takes exponents, hex, "inf" and signs: a size's number is decimal
	// digits and a point only, and without a unit a whole number of bytes.
	lower := strings.ToLower(in)
	num := strings.TrimSuffix(strings.TrimRight(lower, "kmgtpib"), " ")
	unit := strings.TrimLeft(lower[len(num):], " ")
	if num == "" || strings.Trim(num, "0123456789.") != "" || (strings.Trim(unit, "b") == "" && strings.Contains(num, ".")) {
		return 0, bad
	}
	v, err := units.RAMInBytes(in)
	if err != nil {
		return 0, bad
	}
	// A value over math.MaxInt64 does not fit the int64 RAMInBytes
	// converts its float to: that conversion gives math.MinInt64 (amd64)
	// or saturates to math.MaxInt64 (arm64), which no size in the grammar
	// is (2^63-1 is no float64).
	if v < 0 || v == math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", in)
	}
	return v, nil
}
