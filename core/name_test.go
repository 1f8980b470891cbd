package core

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerName and dockerTag are Docker's reference grammar
// (github.com/distribution/reference): path components of lowercase
// alphanumerics joined by '.', '_', '__' or runs of '-', separated by '/'.
var (
	dockerName = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)
	dockerTag  = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
)

var awkwardIDs = []string{
	"proj_1", "proj.1", "Proj_1", "PROJ_1", "a-b", "a", "b-c", "c", "-", "---", "_", "",
	"日本語", "日本", "über", "uber", "ÜBER", "x/y", "x:y", "x@y", "x y", "  ", "\u00a0",
	strings.Repeat("a", 1000), strings.Repeat("a", 999) + "b", strings.Repeat("é", 500),
	strings.Repeat("-a", 300), "with\nnewline", "😀", "😁",
}

func TestImageNamesAreValidReferences(t *testing.T) {
	for _, p := range awkwardIDs {
		for _, w := range awkwardIDs {
			name := imageName("inst", "fake", p, w)
			ref := imageRef(name, 125)
			repo, tag, _ := strings.Cut(ref, ":")
			require.Regexp(t, dockerName, repo, "imageName(%q, %q): not a valid Docker repository name", p, w)
			require.LessOrEqual(t, len(repo), 255, "length of imageName(%q, %q) = %q", p, w, repo)
			require.Regexp(t, dockerTag, tag, "tag of %q", ref)
		}
	}
}

func TestImageNamesAreCollisionFree(t *testing.T) {
	seen := map[string][2]string{}
	for _, p := range awkwardIDs {
		for _, w := range awkwardIDs {
			name := imageName("inst", "fake", p, w)
			prev, dup := seen[name]
			require.False(t, dup, "(%q, %q) and (%q, %q) both map to %q", prev[0], prev[1], p, w, name)
			seen[name] = [2]string{p, w}
		}
	}
	// The separator inside IDs cannot make two pairs meet.
	assert.NotEqual(t, imageName("i", "r", "a", "b-c"), imageName("i", "r", "a-b", "c"), `("a-b","c") and ("a","b-c") collide`)
	// Instances and runtimes sharing an engine never share names.
	assert.NotEqual(t, imageName("i2", "r", "p", "w"), imageName("i1", "r", "p", "w"), "instance not part of the name's identity")
	assert.NotEqual(t, imageName("i", "r2", "p", "w"), imageName("i", "r1", "p", "w"), "runtime not part of the name's identity")
}

func TestImageNamesAreReadable(t *testing.T) {
	got := imageName("inst", "fake", "Web-App", "Issue_42")
	require.True(t, strings.HasPrefix(got, "berth/web-app-issue-42-"), "imageName = %q, want the slugs of project and work item first", got)
	require.Equal(t, got, imageName("inst", "fake", "Web-App", "Issue_42"), "imageName is not deterministic")
	s := slug(strings.Repeat("ab-", 100), maxProjectSlug)
	assert.LessOrEqual(t, len(s), maxProjectSlug, "length of slug %q", s)
	assert.False(t, strings.HasSuffix(s, "-"), "slug %q ends with '-'", s)
}
