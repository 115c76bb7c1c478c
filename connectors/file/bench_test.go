package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchDir fills a directory with n item files the way a backlog in git
// looks: written by someone else, a few hundred bytes each.
func benchDir(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	for i := range n {
		body := fmt.Sprintf("id: BL-%d\nkind: story\ntitle: Item %d\nstatus: todo\nlabels: [web, checkout]\ndescription: |\n  %s\ncreated: 2024-05-01T10:00:00Z\n",
			i, i, strings.Repeat("Some words of description. ", 10))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("BL-%d.yaml", i)), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkChangesIdle measures a poll of 1,000 files with nothing
// changed: the steady state of a daemon polling every few seconds.
func BenchmarkChangesIdle(b *testing.B) {
	f := openFixture(b, benchDir(b, 1000))
	_, cursor := drain(b, f.c, "")
	f.c.racy = 0 // the files are old: past the racy window
	_, _ = f.c.Changes(bg, cursor)
	parses := f.c.parses.Load()
	b.ResetTimer()
	for b.Loop() {
		p, err := f.c.Changes(bg, cursor)
		if err != nil || len(p.Records) != 0 {
			b.Fatal(err, len(p.Records))
		}
	}
	if f.c.parses.Load() != parses {
		b.Fatal("an idle poll parsed files")
	}
}

// BenchmarkFindByMarkerMiss measures the lookup the syncer makes before
// every create, on 1,000 files.
func BenchmarkFindByMarkerMiss(b *testing.B) {
	f := openFixture(b, benchDir(b, 1000))
	f.c.racy = 0
	_, _ = f.c.FindByMarker(bg, "BL-none")
	for b.Loop() {
		if _, err := f.c.FindByMarker(bg, "BL-none"); err == nil {
			b.Fatal("found")
		}
	}
}

func BenchmarkGet(b *testing.B) {
	f := openFixture(b, benchDir(b, 10))
	for b.Loop() {
		if _, err := f.c.Get(bg, "BL-5"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate includes the two fsyncs of a durable write, which
// dominate on most disks.
func BenchmarkUpdate(b *testing.B) {
	f := openFixture(b, benchDir(b, 10))
	i := 0
	for b.Loop() {
		i++
		if _, err := f.c.Update(bg, "BL-5", "", fields("title", fmt.Sprintf("Title %d", i)), ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(benchDir(b, 1), "BL-0.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := parse("BL-0.yaml", raw); err != nil {
			b.Fatal(err)
		}
	}
}
