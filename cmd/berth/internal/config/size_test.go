package config

import "testing"

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
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "12q", "-1", "-1g", "1e9", "1.5", "ten", "1..5g", "99999999999t", "NaNg", "1  g", "1ib", "0x1p4g", "1gg"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}
