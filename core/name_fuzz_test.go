package core

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoName is the subset of Docker's reference grammar snapshot names keep
// to: lowercase alphanumerics joined by single '-' or '/'.
var repoName = regexp.MustCompile(`^[a-z0-9]+(?:[-/][a-z0-9]+)*$`)

// slugRE is what slug may return: lowercase alphanumerics joined by single '-'.
var slugRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// checkImageName asserts the properties of one snapshot name and returns it.
func checkImageName(t *testing.T, instance, runtimeName, project, workItem string) string {
	t.Helper()
	name := imageName(instance, runtimeName, project, workItem)
	require.Regexp(t, repoName, name, "imageName(%q, %q, %q, %q): not a valid repository name", instance, runtimeName, project, workItem)
	// Docker caps a reference's name at 255 bytes; the tag comes on top.
	for _, gen := range []int{0, 1, math.MaxInt} {
		require.Less(t, len(imageRef(name, gen)), 255, "length of imageRef(%q, %d)", name, gen)
	}
	require.Equal(t, name, imageName(instance, runtimeName, project, workItem), "imageName is not deterministic")
	return name
}

// FuzzImageName: every (instance, runtime, project, work item) gives a
// valid, bounded, deterministic repository name, and two different tuples
// never share one, even when their slugs are equal or the concatenation of
// their parts is.
func FuzzImageName(f *testing.F) {
	f.Add("0123456789abcdef", "docker", "acme/web", "PROJ-123", "0123456789abcdef", "docker", "acme/web", "PROJ-124")
	f.Add("", "", "", "", "", "", "", "x")
	f.Add("ab", "c", "p", "w", "a", "bc", "p", "w")
	f.Add("i", "docker", "a b", "w", "i", "docker", "a-b", "w")
	f.Add("i", "docker", "p", "w", "i", "docker", "p", "W")
	f.Add("i", "docker", "p", "w", "j", "docker", "p", "w")
	f.Add("i", "docker", "p", "w", "i", "podman", "p", "w")
	f.Add("", "", "", "x", "", "", "x", "")
	f.Add("i", "r", "p\x00", "w", "i", "r", "p", "\x00w")
	f.Add("i", "fake", "---", "___", "i", "fake", "--", "__")
	f.Add("i", "podman", "Ünïcödé ☃", "İstanbul \u212a", "i", "podman", "nc", "istanbul k") // lowercase to ASCII
	f.Add("i", "containerd", "a--b//c..d__e", "-leading and trailing-", "i", "containerd", "a-b-c-d-e", "leading-and-trailing")
	f.Add("i", "docker", strings.Repeat("a", 39)+"-bbbbbbbbb", "x", "i", "docker", strings.Repeat("a", 39), "x")
	f.Add("\x00\xff", "\xc3", "\xed\xa0\x80", "\t\n\r", "\x00\xff", "\xc3", "\xed\xa0\x81", "\t\n\r")
	f.Fuzz(func(t *testing.T, i1, r1, p1, w1, i2, r2, p2, w2 string) {
		n1 := checkImageName(t, i1, r1, p1, w1)
		n2 := checkImageName(t, i2, r2, p2, w2)
		same := i1 == i2 && r1 == r2 && p1 == p2 && w1 == w2
		require.Equal(t, same, n1 == n2, "same name for (%q, %q, %q, %q) -> %q and (%q, %q, %q, %q) -> %q", i1, r1, p1, w1, n1, i2, r2, p2, w2, n2)
		checkSlug(t, p1, maxProjectSlug)
		checkSlug(t, w1, maxWorkItemSlug)
		checkSlug(t, i2+r2+p2+w2, 1+len(i1)%maxWorkItemSlug)
	})
}

// checkSlug asserts that a slug is lowercase alphanumerics joined by single
// '-', never longer than max, and that a slug of a slug is itself.
func checkSlug(t *testing.T, s string, max int) {
	t.Helper()
	out := slug(s, max)
	require.Regexp(t, slugRE, out, "slug(%q, %d): not lowercase alphanumerics joined by single '-'", s, max)
	require.LessOrEqual(t, len(out), max, "length of slug(%q, %d) = %q", s, max, out)
	require.Equal(t, out, slug(out, max), "slug of slug(%q, %d)", s, max)
}
