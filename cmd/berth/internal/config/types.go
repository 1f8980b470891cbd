package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration string ("90s",
// "1h30m").
type Duration time.Duration

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as 30s or 1h, got a %s", kindOf(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a number with a unit, e.g. 30s, 5m, 1h30m)", n.Value)
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
		return fmt.Errorf("want a size such as 512m or 1g, got a %s", kindOf(n))
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
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

// ParseSize parses a byte size: a non-negative integer optionally followed
// by a unit, b, k, m, g or t (powers of 1024), in either case and with an
// optional "b" or "ib" after the letter ("512m", "1g", "1.5G", "64KiB",
// "1048576"). Fractions are allowed with a unit.
func ParseSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	num := strings.ToLower(in)
	mult := int64(1)
	for _, suf := range []string{"ib", "b"} {
		if strings.HasSuffix(num, suf) && len(num) > len(suf) {
			num = strings.TrimSuffix(num, suf)
			break
		}
	}
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			num = num[:n-1]
		}
	}
	bad := fmt.Errorf("invalid size %q (want bytes or a number with a unit: 512m, 1g, 64k)", in)
	// Decimal digits and a point only: ParseFloat would also take hex
	// ("0x1p4g"), exponents, "inf" and underscores.
	if num == "" || strings.Trim(num, "0123456789.") != "" {
		if strings.HasPrefix(num, "-") {
			return 0, fmt.Errorf("invalid size %q: must not be negative", in)
		}
		return 0, bad
	}
	if i, err := strconv.ParseInt(num, 10, 64); err == nil {
		if i > math.MaxInt64/mult {
			return 0, fmt.Errorf("invalid size %q: too large", in)
		}
		return i * mult, nil
	}
	if mult == 1 {
		return 0, bad
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, bad
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", in)
	}
	return int64(v), nil
}
