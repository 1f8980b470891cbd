package runtime_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/berth-dev/berth/runtime"
)

func TestEngineMade(t *testing.T) {
	m := runtime.NewEngineMade("/etc/hosts", "sbin/docker-init", "", "/work/dir/")
	for _, c := range []struct {
		path    string
		removed bool
		ignored bool
	}{
		{"/etc/hosts", false, true},
		{"/etc", false, true},      // changed for its mount point
		{"/sbin", false, true},     // made for the init's
		{"/work", false, true},     // above the working directory
		{"/work/dir", false, true}, // the working directory
		{"/etc", true, false},      // removed: the container's doing
		{"/etc/passwd", false, false},
		{"/work/dir/f", false, false}, // written in the working directory
		{"/", false, false},
		{"/etcx", false, false},
	} {
		assert.Equal(t, c.ignored, m.Ignores(c.path, c.removed), "Ignores(%q, removed %v)", c.path, c.removed)
	}
	assert.True(t, m.Covers("/etc/hosts"))
	assert.False(t, m.Covers("/etc"), "a directory above a path is not covered")
}
