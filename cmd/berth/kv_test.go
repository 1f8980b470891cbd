package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseKV(t *testing.T) {
	got, err := parseKV("env", []string{"A=1", "B=", "C=x=y"})
	if assert.NoError(t, err) {
		assert.Equal(t, []string{"A=1", "B=", "C=x=y"}, got, "parseKV")
	}
	for _, bad := range []string{"NOEQUALS", "=value", "", "A B=1"} {
		_, err := parseKV("env", []string{"OK=1", bad})
		assert.Error(t, err, "parseKV(%q) accepted", bad)
	}
}

func TestParseLabels(t *testing.T) {
	got, err := parseLabels("label", []string{"a=1", "b=2", "a=3"})
	if assert.NoError(t, err) {
		assert.Equal(t, map[string]string{"a": "3", "b": "2"}, got, "parseLabels")
	}
	got, err = parseLabels("label", nil)
	if assert.NoError(t, err, "parseLabels(nil)") {
		assert.Nil(t, got, "parseLabels(nil)")
	}
	_, err = parseLabels("label", []string{"=x"})
	assert.Error(t, err, "parseLabels(=x) accepted")
}
