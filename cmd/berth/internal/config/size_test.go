package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0":       0,
		"1048576": 1 << 20,
		"512b":    512,
		"64k":     64 << 10,
		"64KiB":   64 << 10,
		"512m":    512 << 20,
		"512MB":   512 << 20,
		"1g":      1 << 30,
		"1G":      1 << 30,
		"1.5g":    3 << 29,
		"2t":      2 << 40,
		" 8m ":    8 << 20,
		"1 g":     1 << 30,
		"2p":      2 << 50,
		".5k":     512,
	} {
		got, err := ParseSize(in)
		if assert.NoError(t, err, "ParseSize(%q)", in) {
			assert.Equal(t, want, got, "ParseSize(%q)", in)
		}
	}
	for _, in := range []string{"", "m", "12q", "-1", "-1g", "1e9", "1.5", "ten", "1..5g", "99999999999t", "NaNg", "1  g", "1ib", "0x1p4g", "1gg"} {
		got, err := ParseSize(in)
		assert.Error(t, err, "ParseSize(%q) = %d, want an error", in, got)
	}
}
