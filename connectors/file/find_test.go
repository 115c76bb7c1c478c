package file

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

func TestFindByMarkerSeesAFileWrittenAMomentAgo(t *testing.T) {
	f := newFixture(t)
	createN(t, f, 1, 5)
	if _, err := f.c.FindByMarker(bg, "BL-9"); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("find BL-9 before it exists: %v", err)
	}
	// Another writer (a person, another backlogd) adds it: no lag.
	f.write(t, "nine.yaml", "id: BL-9\ntitle: Nine\n")
	rec, err := f.c.FindByMarker(bg, "BL-9")
	if err != nil || rec.ID != "nine" || rec.Fields.Get("title") != "Nine" {
		t.Fatalf("find BL-9 right after it was written: %+v %v", rec, err)
	}
	other := openFixture(t, f.dir)
	other.create(t, "BL-10", fields("title", "Ten"))
	if rec, err := f.c.FindByMarker(bg, "BL-10"); err != nil || rec.ID != "BL-10" {
		t.Fatalf("find a record another connector just created: %+v %v", rec, err)
	}
}

func TestFindByMarkerParsesOnlyWhatChanged(t *testing.T) {
	f := newFixture(t)
	for i := range 100 {
		f.write(t, fmt.Sprintf("item-%03d.yaml", i), fmt.Sprintf("id: BL-%d\ntitle: Item %d\n", i, i))
	}
	if _, err := f.c.FindByMarker(bg, "BL-50"); err != nil {
		t.Fatal(err)
	}
	first := f.c.parses.Load()
	if first < 100 {
		t.Fatalf("the first lookup parsed %d files; it has to learn every marker", first)
	}
	if _, err := f.c.FindByMarker(bg, "BL-404"); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatal(err)
	}
	if n := f.c.parses.Load() - first; n != 0 {
		t.Errorf("a lookup with nothing changed parsed %d files, want 0", n)
	}
	nextTick(t, f.dir)
	editText(t, f.dir, "item-007.yaml", "id: BL-7", "id: BL-777")
	before := f.c.parses.Load()
	rec, err := f.c.FindByMarker(bg, "BL-777")
	if err != nil || rec.ID != "item-007" {
		t.Fatalf("find the edited marker: %+v %v", rec, err)
	}
	// The edited file is parsed for the index and once more by the Get
	// that returns it; none of the 99 others.
	if n := f.c.parses.Load() - before; n > 2 {
		t.Errorf("a lookup after one edit parsed %d files, want at most 2", n)
	}
	if _, err := f.c.FindByMarker(bg, "BL-7"); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("the old marker is still found: %v", err)
	}
}

func TestFindByMarkerPrefersTheFileNamedAfterIt(t *testing.T) {
	f := newFixture(t)
	f.create(t, "BL-1", fields("title", "Original"))
	// A person copies the file to start a similar item, forgetting the id.
	if err := os.WriteFile(filepath.Join(f.dir, "AAA-copy.yaml"), []byte(f.read(t, "BL-1.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	if rec, err := f.c.FindByMarker(bg, "BL-1"); err != nil || rec.ID != "BL-1" {
		t.Fatalf("find: %+v %v", rec.ID, err)
	}
	if err := os.Remove(filepath.Join(f.dir, "BL-1.yaml")); err != nil {
		t.Fatal(err)
	}
	if rec, err := f.c.FindByMarker(bg, "BL-1"); err != nil || rec.ID != "AAA-copy" {
		t.Fatalf("find after the original is gone: %+v %v", rec.ID, err)
	}
}

func TestACreateLostInACrashIsFoundByItsMarker(t *testing.T) {
	f := newFixture(t)
	f.c.crashAfterNextCreate()
	_, err := f.c.Create(bg, "BL-5", fields("title", "Made before the crash"))
	if err == nil {
		t.Fatal("the crash hook did not fail the create")
	}
	rec, err := f.c.FindByMarker(bg, "BL-5")
	if err != nil || rec.Fields.Get("title") != "Made before the crash" {
		t.Fatalf("find: %+v %v", rec, err)
	}
	// The hook fires once.
	if _, err := f.c.Create(bg, "BL-6", fields("title", "After")); err != nil {
		t.Fatal(err)
	}
}
