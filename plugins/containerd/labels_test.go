package containerd

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/typeurl/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestFitLabels checks the stored form of labels over containerd's limit
// and that the exact labels come back from it.
func TestFitLabels(t *testing.T) {
	short := map[string]string{"a": "1", "io.berth.x": strings.Repeat("v", maxLabelSize-len("io.berth.x"))}
	fit, ext := fitLabels(short)
	assert.False(t, ext != nil || !maps.Equal(fit, short), "labels within the limit: stored %v with extensions %v", fit, ext)
	longKey := "io.berth." + strings.Repeat("k", 5000)
	labels := map[string]string{
		"a":              "1",
		"io.berth.work":  strings.Repeat("w", 5000),
		"io.berth.multi": strings.Repeat("é", 3000), // 2 bytes each: the cut falls inside one
		"io.berth.edge":  strings.Repeat("e", maxLabelSize-len("io.berth.edge")+1),
		longKey:          "v",
	}
	fit, ext = fitLabels(labels)
	require.NotNil(t, ext, "no extension for the over-long labels")
	for k, v := range fit {
		assert.False(t, len(k)+len(v) > maxLabelSize, "stored label %.20s... has %d bytes", k, len(k)+len(v))
		assert.True(t, utf8.ValidString(v), "stored value of %s is not UTF-8", k)
	}
	_, ok := fit[longKey]
	assert.False(t, ok, "a key over the limit was stored")
	assert.False(t, fit["a"] != "1" || fit["io.berth.work"] != longLabelValue(labels["io.berth.work"]), "stored labels: a=%q work=%.40q", fit["a"], fit["io.berth.work"])
	got := exactLabels(containers.Container{Labels: fit, Extensions: ext})
	assert.Equal(t, labels, got, "exact labels differ from those given")
	// Two values alike in their first bytes are stored apart.
	a, b := longLabelValue(strings.Repeat("w", 5000)+"a"), longLabelValue(strings.Repeat("w", 5000)+"b")
	assert.False(t, a == b, "two long values have one stored form")
	// An extension not of the driver's leaves the stored labels as they are.
	foreign := map[string]typeurl.Any{extLabels: &anypb.Any{TypeUrl: "x", Value: []byte("not json")}}
	assert.Equal(t, fit, exactLabels(containers.Container{Labels: fit, Extensions: foreign}), "a foreign extension changed the labels")
}
