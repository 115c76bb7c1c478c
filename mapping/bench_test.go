package mapping

import (
	"path/filepath"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

// ToRecord and FromRecord run twice per reconcile; these benchmarks keep
// an eye on what they cost (the client layout comes from its cache).

func BenchmarkToRecord(b *testing.B) {
	c := githubClient()
	p := c.Project(sampleItem())
	current := c.ToRecord(p, nil)
	b.ReportAllocs()
	for b.Loop() {
		c.ToRecord(p, current)
	}
}

func BenchmarkFromRecord(b *testing.B) {
	c := githubClient()
	p := c.Project(sampleItem())
	rec := connectors.Record{Fields: c.ToRecord(p, nil)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.FromRecord(rec, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	path := filepath.Join("..", "configs", "backlogd.yaml")
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}
