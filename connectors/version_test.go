package connectors

import (
	"testing"
	"time"
)

func TestDigestTellsStatesApart(t *testing.T) {
	f := func(kv ...string) Fields {
		out := Fields{}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = append(out[kv[i]], kv[i+1])
		}
		return out
	}
	base := Digest(f("title", "A", "labels", "x", "labels", "y"), "BL-1")
	tests := []struct {
		name string
		d    string
		same bool
	}{
		{"the same fields in another map order", Digest(f("labels", "x", "labels", "y", "title", "A"), "BL-1"), true},
		{"an unset field is the same as an absent one", Digest(Fields{"title": {"A"}, "labels": {"x", "y"}, "due": nil, "body": {""}}, "BL-1"), true},
		{"another title", Digest(f("title", "B", "labels", "x", "labels", "y"), "BL-1"), false},
		{"values moved between fields", Digest(f("title", "Ax", "labels", "y"), "BL-1"), false},
		{"another marker", Digest(f("title", "A", "labels", "x", "labels", "y"), "BL-2"), false},
		{"another comment count", Digest(f("title", "A", "labels", "x", "labels", "y"), "BL-1", "comments=1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.d == base) != tt.same {
				t.Errorf("digest %s vs %s: same = %v, want %v", tt.d, base, tt.d == base, tt.same)
			}
		})
	}
	at := time.Date(2026, 11, 24, 10, 15, 30, 0, time.UTC)
	if VersionOf(at, "a") == VersionOf(at, "b") || VersionOf(at, "a") == VersionOf(at.Add(time.Second), "a") {
		t.Error("VersionOf does not tell the time and the digest apart")
	}
}
