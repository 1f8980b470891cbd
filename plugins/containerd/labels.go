package containerd

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"unicode/utf8"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// containerd refuses a label whose key and value together exceed
// maxLabelSize bytes, on every object of its metadata. A user's label on a
// container can be longer (berth's labels carry the work item and project,
// which may be thousands of characters). Such a label is stored twice:
// exactly, in the container record's extension extLabels (a JSON object of
// the over-long labels), where no limit applies; and, in the record's
// labels, under its key with a value that fits, longLabelValue (or not at
// all if even the key does not fit). The driver reports and matches the
// exact values only. Images need none of this: their labels live in the
// image config, which has no limit.
const (
	maxLabelSize = 4096
	extLabels    = reservedPrefix + "labels"
	// extLabelsType is the type URL of the extension's value.
	extLabelsType = "berth.dev/containerd/labels+json"
	// longLabelPrefix is how many bytes of an over-long value its stored
	// form keeps, for people reading containerd's metadata.
	longLabelPrefix = 256
)

// longLabelValue returns the stored form of an over-long label value: its
// first bytes, "...sha256:" and the SHA-256 of the whole value.
func longLabelValue(v string) string {
	n := min(len(v), longLabelPrefix)
	for n < len(v) && n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	sum := sha256.Sum256([]byte(v))
	return v[:n] + "...sha256:" + hex.EncodeToString(sum[:])
}

// fitLabels returns labels as containerd can store them (over-long values
// replaced by their stored form, a key too long for any value left out)
// and the extensions that keep the exact over-long labels, nil if there
// are none.
func fitLabels(labels map[string]string) (map[string]string, map[string]typeurl.Any) {
	long := map[string]string{}
	for k, v := range labels {
		if len(k)+len(v) > maxLabelSize {
			long[k] = v
		}
	}
	if len(long) == 0 {
		return labels, nil
	}
	fit := make(map[string]string, len(labels))
	for k, v := range labels {
		if _, ok := long[k]; !ok {
			fit[k] = v
		} else if short := longLabelValue(v); len(k)+len(short) <= maxLabelSize {
			fit[k] = short
		}
	}
	b, _ := json.Marshal(long) // a map of strings always marshals
	return fit, map[string]typeurl.Any{extLabels: &anypb.Any{TypeUrl: extLabelsType, Value: b}}
}

// exactLabels returns the labels of a container record, the driver's
// included, with the exact values of the over-long ones. Whoever reads a
// label that may be long (a user's, or the list of secret keys) reads it
// here.
func exactLabels(info containers.Container) map[string]string {
	ext, ok := info.Extensions[extLabels]
	if !ok || ext == nil {
		return info.Labels
	}
	var long map[string]string
	if err := json.Unmarshal(ext.GetValue(), &long); err != nil {
		return info.Labels // not the driver's: the stored values are all there is
	}
	labels := maps.Clone(info.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, long)
	return labels
}
