package connectors

import (
	"encoding/hex"
	"hash/fnv"
	"time"
)

// Digest returns a short hex digest of what a record shows: its fields
// (names and values, in a stable order), its marker, and any extra
// strings the connector adds (a comment count its listing shows). It is
// for the Version contract (see Record.Version) on trackers whose updated
// time does not change with every edit: whole seconds, where a second
// edit in the same second keeps the time.
func Digest(f Fields, marker string, extra ...string) string {
	h := fnv.New32a()
	put := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, name := range f.Names() {
		vs := f[name]
		if len(vs) == 0 || len(vs) == 1 && vs[0] == "" {
			continue // unset: the same as absent
		}
		put(name)
		for _, v := range vs {
			put(v)
		}
		h.Write([]byte{1})
	}
	put("\x02marker")
	put(marker)
	for _, x := range extra {
		put(x)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// VersionOf is the Version of a record last updated at updated whose
// content has the given digest: the time as the tracker reports it
// (RFC 3339, to the precision given) and the digest, so that two states
// in one second of a tracker with whole-second times still differ.
func VersionOf(updated time.Time, digest string) string {
	return updated.UTC().Format(time.RFC3339Nano) + "~" + digest
}
