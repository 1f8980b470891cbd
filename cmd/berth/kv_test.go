package main

import (
	"reflect"
	"testing"
)

func TestParseKV(t *testing.T) {
	got, err := parseKV("env", []string{"A=1", "B=", "C=x=y"})
	if err != nil || !reflect.DeepEqual(got, []string{"A=1", "B=", "C=x=y"}) {
		t.Errorf("parseKV = %v, %v", got, err)
	}
	for _, bad := range []string{"NOEQUALS", "=value", "", "A B=1"} {
		if _, err := parseKV("env", []string{"OK=1", bad}); err == nil {
			t.Errorf("parseKV(%q) accepted", bad)
		}
	}
}

func TestParseLabels(t *testing.T) {
	got, err := parseLabels("label", []string{"a=1", "b=2", "a=3"})
	if err != nil || !reflect.DeepEqual(got, map[string]string{"a": "3", "b": "2"}) {
		t.Errorf("parseLabels = %v, %v", got, err)
	}
	if got, err := parseLabels("label", nil); got != nil || err != nil {
		t.Errorf("parseLabels(nil) = %v, %v", got, err)
	}
	if _, err := parseLabels("label", []string{"=x"}); err == nil {
		t.Error("parseLabels(=x) accepted")
	}
}
