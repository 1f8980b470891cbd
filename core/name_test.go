package core

import (
	"regexp"
	"strings"
	"testing"
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
			if !dockerName.MatchString(repo) || len(repo) > 255 {
				t.Fatalf("imageName(%q, %q) = %q: not a valid Docker repository name", p, w, repo)
			}
			if !dockerTag.MatchString(tag) {
				t.Fatalf("tag %q of %q is not valid", tag, ref)
			}
		}
	}
}

func TestImageNamesAreCollisionFree(t *testing.T) {
	seen := map[string][2]string{}
	for _, p := range awkwardIDs {
		for _, w := range awkwardIDs {
			name := imageName("inst", "fake", p, w)
			if prev, dup := seen[name]; dup {
				t.Fatalf("(%q, %q) and (%q, %q) both map to %q", prev[0], prev[1], p, w, name)
			}
			seen[name] = [2]string{p, w}
		}
	}
	// The separator inside IDs cannot make two pairs meet.
	if imageName("i", "r", "a-b", "c") == imageName("i", "r", "a", "b-c") {
		t.Fatal(`("a-b","c") and ("a","b-c") collide`)
	}
	// Instances and runtimes sharing an engine never share names.
	if imageName("i1", "r", "p", "w") == imageName("i2", "r", "p", "w") ||
		imageName("i", "r1", "p", "w") == imageName("i", "r2", "p", "w") {
		t.Fatal("instance or runtime not part of the name's identity")
	}
}

func TestImageNamesAreReadable(t *testing.T) {
	got := imageName("inst", "fake", "Web-App", "Issue_42")
	if !strings.HasPrefix(got, "berth/web-app-issue-42-") {
		t.Fatalf("imageName = %q, want the slugs of project and work item first", got)
	}
	if got != imageName("inst", "fake", "Web-App", "Issue_42") {
		t.Fatal("imageName is not deterministic")
	}
	if s := slug(strings.Repeat("ab-", 100), maxProjectSlug); len(s) > maxProjectSlug || strings.HasSuffix(s, "-") {
		t.Fatalf("slug %q: longer than %d or ends with '-'", s, maxProjectSlug)
	}
}
