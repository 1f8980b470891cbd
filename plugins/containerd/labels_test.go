package containerd

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestFitLabels checks the stored form of labels over containerd's limit
// and that the exact labels come back from it.
func TestFitLabels(t *testing.T) {
	short := map[string]string{"a": "1", "io.berth.x": strings.Repeat("v", maxLabelSize-len("io.berth.x"))}
	if fit, ext := fitLabels(short); ext != nil || !maps.Equal(fit, short) {
		t.Errorf("labels within the limit: stored %v with extensions %v", fit, ext)
	}
	longKey := "io.berth." + strings.Repeat("k", 5000)
	labels := map[string]string{
		"a":              "1",
		"io.berth.work":  strings.Repeat("w", 5000),
		"io.berth.multi": strings.Repeat("é", 3000), // 2 bytes each: the cut falls inside one
		"io.berth.edge":  strings.Repeat("e", maxLabelSize-len("io.berth.edge")+1),
		longKey:          "v",
	}
	fit, ext := fitLabels(labels)
	if ext == nil {
		t.Fatal("no extension for the over-long labels")
	}
	for k, v := range fit {
		if len(k)+len(v) > maxLabelSize {
			t.Errorf("stored label %.20s... has %d bytes", k, len(k)+len(v))
		}
		if !utf8.ValidString(v) {
			t.Errorf("stored value of %s is not UTF-8", k)
		}
	}
	if _, ok := fit[longKey]; ok {
		t.Errorf("a key over the limit was stored")
	}
	if fit["a"] != "1" || fit["io.berth.work"] != longLabelValue(labels["io.berth.work"]) {
		t.Errorf("stored labels: a=%q work=%.40q", fit["a"], fit["io.berth.work"])
	}
	got := exactLabels(containers.Container{Labels: fit, Extensions: ext})
	if !maps.Equal(got, labels) {
		t.Errorf("exact labels differ from those given")
	}
	// Two values alike in their first bytes are stored apart.
	if a, b := longLabelValue(strings.Repeat("w", 5000)+"a"), longLabelValue(strings.Repeat("w", 5000)+"b"); a == b {
		t.Errorf("two long values have one stored form")
	}
	// An extension not of the driver's leaves the stored labels as they are.
	foreign := map[string]typeurl.Any{extLabels: &anypb.Any{TypeUrl: "x", Value: []byte("not json")}}
	if got := exactLabels(containers.Container{Labels: fit, Extensions: foreign}); !maps.Equal(got, fit) {
		t.Errorf("a foreign extension changed the labels")
	}
}
