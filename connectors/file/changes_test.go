package file

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// nextTick waits until the file system stamps a change later than every
// file in dir has, so an edit made next sorts after them. It waits on the
// file system's clock, not a duration.
func nextTick(t testing.TB, dir string) {
	t.Helper()
	var newest int64
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if fi, err := de.Info(); err == nil {
			newest = max(newest, changeTime(statOf(fi)))
		}
	}
	probe := filepath.Join(t.TempDir(), "probe")
	for range 10000 {
		if err := os.WriteFile(probe, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(probe)
		if err != nil {
			t.Fatal(err)
		}
		if changeTime(statOf(fi)) > newest {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the file system clock does not move")
}

func createN(t testing.TB, f *fixture, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		f.create(t, fmt.Sprintf("BL-%d", i), fields("title", fmt.Sprintf("Item %d", i)))
	}
}

func TestChangesListEveryFileOnceOldestFirst(t *testing.T) {
	f := newFixture(t, WithPageSize(3))
	createN(t, f, 1, 7)
	var ids []string
	var sizes []int
	cursor := ""
	for {
		p, err := f.c.Changes(bg, cursor)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(p.Records))
		for _, r := range p.Records {
			ids = append(ids, r.ID)
			if r.Comments == nil || r.Fields.Get("title") == "" || r.Version == "" {
				t.Errorf("record %s is not complete: %+v", r.ID, r)
			}
		}
		cursor = p.Cursor
		if !p.More {
			break
		}
	}
	if want := []string{"BL-1", "BL-2", "BL-3", "BL-4", "BL-5", "BL-6", "BL-7"}; !slices.Equal(ids, want) {
		t.Errorf("listed %v, want %v", ids, want)
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("page sizes %v, want [3 3 1]", sizes)
	}
	if again, _ := drain(t, f.c, cursor); len(again) != 0 {
		t.Errorf("a caught-up cursor listed %v again", again)
	}
}

func TestAnEditMovesAFileToTheEndOfTheListing(t *testing.T) {
	f := newFixture(t, WithPageSize(3))
	createN(t, f, 1, 5)
	_, cursor := drain(t, f.c, "")
	nextTick(t, f.dir)
	editByHand(t, f.dir, "BL-2", fields("title", "Edited"))
	nextTick(t, f.dir)
	f.create(t, "BL-6", fields("title", "New"))
	ids, _ := drain(t, f.c, cursor)
	if !slices.Equal(ids, []string{"BL-2", "BL-6"}) {
		t.Errorf("listed %v, want [BL-2 BL-6]", ids)
	}
}

func TestAFileEditedWhileAListingRunsIsNotLost(t *testing.T) {
	f := newFixture(t, WithPageSize(2))
	createN(t, f, 1, 6)
	p, err := f.c.Changes(bg, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 2 || p.Records[0].ID != "BL-1" || !p.More {
		t.Fatalf("first page %+v", p)
	}
	// One file already listed and one not yet listed change mid-listing.
	editByHand(t, f.dir, "BL-1", fields("title", "Edited mid-listing"))
	editByHand(t, f.dir, "BL-5", fields("title", "Also edited"))
	rest, _ := drain(t, f.c, p.Cursor)
	count := map[string]int{}
	for _, id := range rest {
		count[id]++
	}
	for _, id := range []string{"BL-1", "BL-3", "BL-4", "BL-5", "BL-6"} {
		if count[id] != 1 {
			t.Errorf("%s listed %d times after the first page, want once (%v)", id, count[id], rest)
		}
	}
	if count["BL-2"] != 0 {
		t.Errorf("BL-2 was listed again without changing (%v)", rest)
	}
}

func TestAnIdlePollParsesNothing(t *testing.T) {
	f := newFixture(t, WithPageSize(10))
	createN(t, f, 1, 30)
	f.write(t, "broken.yaml", brokenYAML)
	_, cursor := drain(t, f.c, "")
	parses := f.c.parses.Load()
	for range 3 {
		p, err := f.c.Changes(bg, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) != 0 || p.More {
			t.Errorf("an idle poll returned %d records, more=%v", len(p.Records), p.More)
		}
		cursor = p.Cursor
	}
	if n := f.c.parses.Load() - parses; n != 0 {
		t.Errorf("idle polls parsed %d files, want 0", n)
	}
	// Once the files are older than the racy window, an idle poll does not
	// even read them: it only stats.
	f.c.racy = 0
	_, _ = f.c.Changes(bg, cursor)
	reads := f.c.reads.Load()
	if _, err := f.c.Changes(bg, cursor); err != nil {
		t.Fatal(err)
	}
	if n := f.c.reads.Load() - reads; n != 0 {
		t.Errorf("an idle poll read %d files, want 0", n)
	}
}

func TestARestartContinuesFromTheCursor(t *testing.T) {
	f := newFixture(t, WithPageSize(4))
	createN(t, f, 1, 10)
	_, cursor := drain(t, f.c, "")

	// The daemon is down; a person edits a file and adds one.
	nextTick(t, f.dir)
	editByHand(t, f.dir, "BL-3", fields("status", "done"))
	nextTick(t, f.dir)
	f.write(t, "hand.yaml", "title: Added while backlogd was down\n")

	g := openFixture(t, f.dir, WithPageSize(4))
	ids, cursor := drain(t, g.c, cursor)
	if !slices.Equal(ids, []string{"BL-3", "hand"}) {
		t.Errorf("after a restart listed %v, want [BL-3 hand]", ids)
	}
	if n := g.c.parses.Load(); n != 2 {
		t.Errorf("the restarted connector parsed %d files, want only the 2 new ones", n)
	}
	// And a second restart with nothing changed parses nothing at all.
	h := openFixture(t, f.dir, WithPageSize(4))
	if ids, _ := drain(t, h.c, cursor); len(ids) != 0 {
		t.Errorf("an idle poll after a restart listed %v", ids)
	}
	if n := h.c.parses.Load(); n != 0 {
		t.Errorf("an idle poll after a restart parsed %d files", n)
	}
}

func TestAnUnreadableCursorListsEverythingAgain(t *testing.T) {
	f := newFixture(t)
	createN(t, f, 1, 3)
	for _, bad := range []string{"garbage", "v1.!!!", "v1.bnVsbA"} {
		ids, _ := drain(t, f.c, bad)
		if len(ids) != 3 {
			t.Errorf("cursor %q: listed %v, want all 3", bad, ids)
		}
	}
	mustContain(t, f.logs.String(), "unreadable cursor")
}

func TestOnlyItemFilesAreListed(t *testing.T) {
	f := newFixture(t)
	f.create(t, "BL-1", fields("title", "Real"))
	f.write(t, "README.md", "# the backlog\n")
	f.write(t, "old.yml", "title: wrong extension\n")
	f.write(t, ".draft.yaml", "title: hidden\n")
	f.write(t, ".BL-1.yaml.tmp-99", "title: half a wri")
	f.write(t, "BL-1.yaml~", "title: editor backup\n")
	if err := os.Mkdir(filepath.Join(f.dir, "archive.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "shared.yaml")
	if err := os.WriteFile(outside, []byte("title: linked in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(f.dir, "linked.yaml")); err != nil {
		t.Fatal(err)
	}
	ids, _ := drain(t, f.c, "")
	if !slices.Equal(sorted(ids), []string{"BL-1", "linked"}) {
		t.Errorf("listed %v, want [BL-1 linked]", ids)
	}
	mustContain(t, f.logs.String(), "old.yml", "rename it")
	// Writing a linked record writes through the link, which stays a link.
	if _, err := f.c.Update(bg, "linked", "", fields("status", "todo"), ""); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(f.dir, "linked.yaml")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the update replaced the symlink with a file")
	}
	if b, _ := os.ReadFile(outside); !strings.Contains(string(b), "status: todo") {
		t.Errorf("the linked file was not updated:\n%s", b)
	}
}

func TestARewriteInTheSameTimestampTickIsNotMissed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		readAt func(c int64) int64
		listed bool
	}{
		{"a read in the same tick is checked again", func(c int64) int64 { return c }, true},
		{"a read long after the change is trusted", func(c int64) int64 { return c + int64(3*time.Second) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.create(t, "BL-1", fields("title", "AAAA"))
			_, cursor := drain(t, f.c, "")
			f.c.mu.Lock()
			old := *f.c.idx["BL-1"]
			f.c.mu.Unlock()
			// The file changes to content of the same size; then put the
			// index back in the state it would be in had it read the old
			// content at the new stat data, in the same tick: the one
			// race stat data alone cannot see.
			editText(t, f.dir, "BL-1.yaml", "AAAA", "BBBB")
			f.c.mu.Lock()
			if err := f.c.refresh(); err != nil {
				t.Fatal(err)
			}
			e := f.c.idx["BL-1"]
			e.loaded, e.stale, e.rawHash, e.markerKnown = true, false, old.rawHash, old.markerKnown
			e.readAt = tt.readAt(e.c)
			f.c.mu.Unlock()
			ids, _ := drain(t, f.c, cursor)
			if got := slices.Contains(ids, "BL-1"); got != tt.listed {
				t.Errorf("listed %v, want BL-1 listed: %v", ids, tt.listed)
			}
		})
	}
}

func TestAFutureTimestampDoesNotHideLaterFiles(t *testing.T) {
	f := newFixture(t)
	f.create(t, "BL-1", fields("title", "From a skewed clock"))
	future := time.Now().Add(24 * time.Hour)
	if err := os.Chtimes(filepath.Join(f.dir, "BL-1.yaml"), future, future); err != nil {
		t.Fatal(err)
	}
	_, cursor := drain(t, f.c, "")
	f.create(t, "BL-2", fields("title", "Written now"))
	ids, cursor := drain(t, f.c, cursor)
	if !slices.Equal(ids, []string{"BL-2"}) {
		t.Errorf("listed %v, want [BL-2]", ids)
	}
	if ids, _ := drain(t, f.c, cursor); len(ids) != 0 {
		t.Errorf("the future file is listed on every poll: %v", ids)
	}
}
