package core

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// Lengths of the readable parts of a snapshot image name.
const (
	maxProjectSlug  = 40
	maxWorkItemSlug = 60
)

// imageName returns the repository name of the snapshots of a work item:
// "berth/<slug(project)>-<slug(workItem)>-<hash>". The slugs make it
// readable; the hash (16 hex digits of SHA-256 over the exact instance,
// runtime, project and work item, each length-prefixed) makes it
// collision-free, also between two state directories sharing one engine.
// The result is valid under Docker's reference grammar (lowercase
// alphanumerics joined by single '-', under 255 characters).
func imageName(instance, runtimeName, project, workItem string) string {
	sum := partsHash(instance, runtimeName, project, workItem)[:16]
	return "berth/" + slug(project, maxProjectSlug) + "-" + slug(workItem, maxWorkItemSlug) + "-" + sum
}

// partsHash is the hex SHA-256 of parts, each length-prefixed, so that no
// two lists of parts share it.
func partsHash(parts ...string) string {
	h := sha256.New()
	for _, s := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// imageRef returns the reference of generation gen of name.
func imageRef(name string, gen int) string {
	return name + ":g" + strconv.Itoa(gen)
}

// slug lowercases s, keeps ASCII letters and digits, turns every other run
// of characters into one '-', trims '-' at both ends and cuts the result to
// max bytes. It returns "x" when nothing is left.
func slug(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			if b.Len() >= max {
				break
			}
			continue
		}
		dash = true
	}
	out := strings.TrimRight(b.String(), "-")
	if len(out) > max {
		out = strings.TrimRight(out[:max], "-")
	}
	if out == "" {
		return "x"
	}
	return out
}
