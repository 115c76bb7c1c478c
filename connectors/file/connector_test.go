package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

func TestCreatedRecordReadsBackWithEverything(t *testing.T) {
	f := newFixture(t)
	in := fields("title", "Login fails on Safari", "kind", "bug", "labels", "safari", "teams", "web", "teams", "api",
		"estimate.points", "3", "due", "2024-05-01", "description", "Steps:\n1. open\n", "parent", "BL-1")
	rec := f.create(t, "BL-42", in)
	if rec.ID != "BL-42" || rec.Key != "BL-42" || rec.Marker != "BL-42" {
		t.Errorf("id %q key %q marker %q, want BL-42 for all", rec.ID, rec.Key, rec.Marker)
	}
	if !strings.HasPrefix(rec.URL, "file:///") || !strings.HasSuffix(rec.URL, "/BL-42.yaml") {
		t.Errorf("url %q", rec.URL)
	}
	got := f.get(t, "BL-42")
	if !fieldsEqual(got.Fields, in) {
		t.Errorf("fields\n got %v\nwant %v", got.Fields, in)
	}
	if got.Version != rec.Version || got.Version == "" {
		t.Errorf("version %q after create, %q on get", rec.Version, got.Version)
	}
	now := f.clock.Now()
	if !got.Created.Equal(now) || !got.Updated.Equal(now) {
		t.Errorf("created %v updated %v, want the clock's %v", got.Created, got.Updated, now)
	}
	if got.Comments == nil {
		t.Error("Get returned nil comments; it must load them (an empty list when there are none)")
	}
	text := f.read(t, "BL-42.yaml")
	mustContain(t, text, "# Backlog item synced by backlogd", "\nid: BL-42\n", "teams:\n  - web\n  - api\n", "labels:\n  - safari\n", "description: |\n  Steps:\n")
	// The marker leads, the bookkeeping keys close the file.
	if i, j := strings.Index(text, "id: BL-42"), strings.Index(text, "title:"); i > j {
		t.Error("the id line does not come first")
	}
	if !strings.HasSuffix(text, "version: "+rec.Version+"\n") {
		t.Errorf("the file does not end with its version:\n%s", text)
	}
}

func TestCreateNeverReplacesAFileThatHasTheName(t *testing.T) {
	f := newFixture(t)
	f.write(t, "BL-42.yaml", "title: a person's own file\n")
	rec := f.create(t, "BL-42", fields("title", "From backlogd"))
	if rec.ID != "BL-42-2" {
		t.Errorf("id %q, want BL-42-2", rec.ID)
	}
	if got := f.read(t, "BL-42.yaml"); got != "title: a person's own file\n" {
		t.Errorf("the person's file changed:\n%s", got)
	}
	odd := f.create(t, "x/../y z", fields("title", "odd marker"))
	if odd.ID != "x-..-y-z" || odd.Marker != "x/../y z" {
		t.Errorf("odd marker: id %q marker %q", odd.ID, odd.Marker)
	}
}

func TestUpdateChangesOnlyTheGivenFields(t *testing.T) {
	f := newFixture(t)
	hand := `# Checkout epic, see the workshop notes.
title: Checkout   # keep short
labels: [web, urgent]
notes: |
  Call Bob before the demo.
estimate:
  points: 5
status: todo
comments:
  - author: bob
    created: 2024-04-01T08:00:00Z
    body: first!
`
	f.write(t, "checkout.yaml", hand)
	before := f.get(t, "checkout")
	rec, err := f.c.Update(bg, "checkout", before.Version, connectors.Fields{
		"title":           {"Checkout v2"},
		"labels":          {"web"},
		"status":          nil, // unset
		"estimate.points": {"8"},
		"estimate.effort": {"2"},
		"priority":        {"high"},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := connectors.Fields{
		"title": {"Checkout v2"}, "labels": {"web"}, "notes": {"Call Bob before the demo.\n"},
		"estimate.points": {"8"}, "estimate.effort": {"2"}, "priority": {"high"},
	}
	if !fieldsEqual(rec.Fields, want) {
		t.Errorf("fields\n got %v\nwant %v", rec.Fields, want)
	}
	if len(rec.Comments) != 1 || rec.Comments[0].Body != "first!" {
		t.Errorf("comments %+v", rec.Comments)
	}
	text := f.read(t, "checkout.yaml")
	mustContain(t, text,
		"# Checkout epic, see the workshop notes.", // the person's comments stay
		"# keep short",
		"labels: [web]",                         // a flow list stays a flow list
		"estimate:\n  points: 8\n  effort: 2\n", // nested fields stay nested
		"notes: |\n  Call Bob",
	)
	if strings.Contains(text, "status:") {
		t.Errorf("the unset field is still in the file:\n%s", text)
	}
	if strings.Index(text, "title:") > strings.Index(text, "labels:") || strings.Index(text, "labels:") > strings.Index(text, "notes:") {
		t.Errorf("the person's key order changed:\n%s", text)
	}
	if rec.Version == before.Version {
		t.Error("the version did not change")
	}
	if !rec.Updated.Equal(f.clock.Now()) {
		t.Errorf("updated %v, want %v", rec.Updated, f.clock.Now())
	}
	// The creation time the record reported (the file's mtime) is kept.
	if got := f.get(t, "checkout"); !got.Created.Equal(before.Created) {
		t.Errorf("created moved from %v to %v", before.Created, got.Created)
	}
}

func TestUpdateWithNothingNewWritesNothing(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "BL-1", fields("title", "Same", "labels", "a"))
	st, _ := os.Stat(filepath.Join(f.dir, "BL-1.yaml"))
	f.clock.Advance(time.Hour)
	got, err := f.c.Update(bg, "BL-1", rec.Version, fields("title", "Same", "labels", "a"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != rec.Version || !got.Updated.Equal(rec.Updated) {
		t.Errorf("a no-op update moved version %s→%s, updated %v→%v", rec.Version, got.Version, rec.Updated, got.Updated)
	}
	st2, _ := os.Stat(filepath.Join(f.dir, "BL-1.yaml"))
	if !os.SameFile(st, st2) {
		t.Error("a no-op update rewrote the file")
	}
}

func TestUpdateRefusesAStaleVersion(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "BL-1", fields("title", "One"))
	if _, err := f.c.Update(bg, "BL-1", rec.Version, fields("title", "Two"), ""); err != nil {
		t.Fatal(err)
	}
	_, err := f.c.Update(bg, "BL-1", rec.Version, fields("title", "Three"), "")
	if !errors.Is(err, connectors.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if got := f.get(t, "BL-1"); got.Fields.Get("title") != "Two" {
		t.Errorf("title %q after a refused update", got.Fields.Get("title"))
	}
}

func TestAWriteNeverOverwritesASaveThatLandedDuringIt(t *testing.T) {
	f := newFixture(t)
	f.create(t, "BL-1", fields("title", "One"))
	it, fi, err := f.c.load("update", "BL-1")
	if err != nil {
		t.Fatal(err)
	}
	// A person saves between backlogd's read and its write.
	editByHand(t, f.dir, "BL-1", fields("title", "Saved by a person"))
	if err := setField(it.root, "title", []string{"From backlogd"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.commit("update", "BL-1", it, fi)
	if !errors.Is(err, connectors.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if got := f.get(t, "BL-1"); got.Fields.Get("title") != "Saved by a person" {
		t.Errorf("the person's save was overwritten: title %q", got.Fields.Get("title"))
	}
}

func TestAHandEditIsANewVersionWithTheFilesTime(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "BL-1", fields("title", "Before", "status", "todo"))
	path := filepath.Join(f.dir, "BL-1.yaml")
	text := f.read(t, "BL-1.yaml")
	// A person changes one word and saves: nothing else moves.
	if err := os.WriteFile(path, []byte(strings.Replace(text, "status: todo", "status: done", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := f.clock.Now().Add(3 * time.Hour)
	if err := os.Chtimes(path, saved, saved); err != nil {
		t.Fatal(err)
	}
	got := f.get(t, "BL-1")
	if got.Fields.Get("status") != "done" {
		t.Errorf("status %q", got.Fields.Get("status"))
	}
	if got.Version == rec.Version {
		t.Error("a hand edit left the version as it was")
	}
	if !got.Updated.Equal(saved) {
		t.Errorf("updated %v, want the save time %v", got.Updated, saved)
	}
	// Whitespace a person adds is an edit too.
	if err := os.WriteFile(path, []byte(strings.Replace(text, "status: todo", "status: todo ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if f.get(t, "BL-1").Version == rec.Version {
		t.Error("a whitespace edit left the version as it was")
	}
}

func TestAFileAddedByHandIsARecordThatCanBeAdopted(t *testing.T) {
	f := newFixture(t)
	f.write(t, "login-bug.yaml", "# Reported by Acme on the phone.\ntitle: Login fails\nkind: bug\n")
	ids, _ := drain(t, f.c, "")
	if !slices.Equal(ids, []string{"login-bug"}) {
		t.Fatalf("changes %v, want [login-bug]", ids)
	}
	rec := f.get(t, "login-bug")
	if rec.Marker != "" || rec.Fields.Get("title") != "Login fails" {
		t.Errorf("record %+v", rec)
	}
	st, _ := os.Stat(filepath.Join(f.dir, "login-bug.yaml"))
	if !rec.Created.Equal(st.ModTime().UTC().Truncate(time.Second)) {
		t.Errorf("created %v, want the file's mtime %v", rec.Created, st.ModTime().UTC().Truncate(time.Second))
	}
	if _, err := f.c.Update(bg, "login-bug", rec.Version, nil, "BL-57"); err != nil {
		t.Fatal(err)
	}
	text := f.read(t, "login-bug.yaml")
	if !strings.HasPrefix(text, "# Reported by Acme on the phone.\nid: BL-57\n") {
		t.Errorf("the marker is not the first key under the person's header:\n%s", text)
	}
	found, err := f.c.FindByMarker(bg, "BL-57")
	if err != nil || found.ID != "login-bug" {
		t.Fatalf("find: %v %v", found.ID, err)
	}
	if !found.Created.Equal(rec.Created) {
		t.Errorf("adoption moved created from %v to %v", rec.Created, found.Created)
	}
	// Writing the same marker again writes nothing.
	before := f.read(t, "login-bug.yaml")
	f.clock.Advance(time.Hour)
	if _, err := f.c.Update(bg, "login-bug", "", nil, "BL-57"); err != nil {
		t.Fatal(err)
	}
	if f.read(t, "login-bug.yaml") != before {
		t.Error("writing the same marker rewrote the file")
	}
}

const brokenYAML = "title: Checkout\nlabels: [web\nstatus: todo\n"

func TestABrokenFileIsReportedAndNeverOverwritten(t *testing.T) {
	f := newFixture(t)
	f.create(t, "BL-1", fields("title", "Fine"))
	f.write(t, "checkout.yaml", "id: BL-2\n"+brokenYAML)
	path := filepath.Join(f.dir, "checkout.yaml")

	ids, _ := drain(t, f.c, "")
	if !slices.Equal(ids, []string{"BL-1"}) {
		t.Errorf("changes %v, want only the good file", ids)
	}
	logs := f.logs.String()
	mustContain(t, logs, "does not parse", path, "line=3", "fix it by hand")

	_, err := f.c.Get(bg, "checkout")
	if !connectors.IsTerminal(err) {
		t.Fatalf("get: %v, want a terminal error", err)
	}
	mustContain(t, err.Error(), path+":3:", "invalid YAML", "will not write to it until it parses")

	writes := map[string]func() error{
		"update":         func() error { _, err := f.c.Update(bg, "checkout", "", fields("title", "x"), ""); return err },
		"mark":           func() error { _, err := f.c.Update(bg, "checkout", "", nil, "BL-3"); return err },
		"add comment":    func() error { _, err := f.c.CreateComment(bg, "checkout", connectors.Comment{Body: "x"}); return err },
		"edit comment":   func() error { return f.c.UpdateComment(bg, "checkout", "c1", "x") },
		"delete comment": func() error { return f.c.DeleteComment(bg, "checkout", "c1") },
	}
	for name, w := range writes {
		err := w()
		if !connectors.IsTerminal(err) {
			t.Errorf("%s: %v, want a terminal error", name, err)
			continue
		}
		mustContain(t, err.Error(), path+":3:")
	}
	if got := f.read(t, "checkout.yaml"); got != "id: BL-2\n"+brokenYAML {
		t.Errorf("the broken file was changed:\n%s", got)
	}
	// The broken file seems to carry BL-2: "not found" would let the
	// syncer create the item a second time.
	_, err = f.c.FindByMarker(bg, "BL-2")
	if !connectors.IsTerminal(err) {
		t.Fatalf("find BL-2: %v, want a terminal error", err)
	}
	mustContain(t, err.Error(), path+":3:", "may carry id BL-2")

	// Fixed by the person: listed again, and writable.
	_, cur := drain(t, f.c, "")
	f.write(t, "checkout.yaml", "id: BL-2\ntitle: Checkout\nlabels: [web]\n")
	ids, _ = drain(t, f.c, cur)
	if !slices.Equal(ids, []string{"checkout"}) {
		t.Errorf("changes after the fix %v, want [checkout]", ids)
	}
	if _, err := f.c.Update(bg, "checkout", "", fields("title", "Checkout v2"), ""); err != nil {
		t.Errorf("update after the fix: %v", err)
	}
}

func TestABrokenFileIsWarnedAboutOnce(t *testing.T) {
	f := newFixture(t)
	f.write(t, "bad.yaml", brokenYAML)
	cur := ""
	for range 3 {
		_, cur = drain(t, f.c, cur)
		_, _ = drain(t, f.c, "")
	}
	if n := strings.Count(f.logs.String(), "does not parse"); n != 1 {
		t.Errorf("%d warnings for one broken file, want 1:\n%s", n, f.logs.String())
	}
}

func TestADeletedFileIsNotFound(t *testing.T) {
	f := newFixture(t)
	f.create(t, "BL-1", fields("title", "Gone soon"))
	if err := os.Remove(filepath.Join(f.dir, "BL-1.yaml")); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"get":            func() error { _, err := f.c.Get(bg, "BL-1"); return err },
		"update":         func() error { _, err := f.c.Update(bg, "BL-1", "", fields("title", "x"), ""); return err },
		"mark":           func() error { _, err := f.c.Update(bg, "BL-1", "", nil, "BL-1"); return err },
		"add comment":    func() error { _, err := f.c.CreateComment(bg, "BL-1", connectors.Comment{Body: "x"}); return err },
		"find by marker": func() error { _, err := f.c.FindByMarker(bg, "BL-1"); return err },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "BL-1.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("an update recreated the deleted file")
	}
}

func TestIDsCannotReachOutsideTheDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "backlog")
	f := openFixture(t, dir)
	if err := os.WriteFile(filepath.Join(parent, "secret.yaml"), []byte("title: secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.write(t, ".hidden.yaml", "title: hidden\n")
	for _, id := range []string{"../secret", "", ".", "..", ".hidden", "a/b", "/etc/passwd", "x\x00y"} {
		if _, err := f.c.Get(bg, id); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("get %q: %v, want ErrNotFound", id, err)
		}
		if _, err := f.c.Update(bg, id, "", fields("title", "x"), ""); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("update %q: %v, want ErrNotFound", id, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(parent, "secret.yaml")); string(b) != "title: secret\n" {
		t.Error("a file outside the directory was written")
	}
}

func TestFieldsNamedLikeBacklogdsKeysAreRefused(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"id", "version", "created", "updated", "comments", "", "a..b", ".x", "x\ny"} {
		_, err := f.c.Create(bg, "BL-1", connectors.Fields{name: {"v"}, "title": {"t"}})
		if !connectors.IsTerminal(err) {
			t.Errorf("create with field %q: %v, want a terminal error", name, err)
		}
	}
	if ids, _ := drain(t, f.c, ""); len(ids) != 0 {
		t.Errorf("refused creates left files: %v", ids)
	}
}

func TestReplacingNestedFieldsWithAValueIsRefused(t *testing.T) {
	f := newFixture(t)
	f.write(t, "x.yaml", "estimate:\n  points: 3\n  effort: 2\n")
	_, err := f.c.Update(bg, "x", "", fields("estimate", "5"), "")
	if !connectors.IsTerminal(err) {
		t.Fatalf("got %v, want a terminal error", err)
	}
	mustContain(t, err.Error(), "estimate", "nested fields")
	// Removing every nested field removes the empty parent too.
	rec, err := f.c.Update(bg, "x", "", connectors.Fields{"estimate.points": nil, "estimate.effort": nil}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Fields) != 0 || strings.Contains(f.read(t, "x.yaml"), "estimate") {
		t.Errorf("fields %v, file:\n%s", rec.Fields, f.read(t, "x.yaml"))
	}
}

func TestComments(t *testing.T) {
	f := newFixture(t)
	f.create(t, "BL-1", fields("title", "With comments"))
	at := time.Date(2024, 4, 2, 9, 0, 0, 0, time.UTC)
	c1, err := f.c.CreateComment(bg, "BL-1", connectors.Comment{Author: "alice", Body: "Client feedback:\nlooks good", Created: at})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := f.c.CreateComment(bg, "BL-1", connectors.Comment{Author: "bob", Body: "cost is 3k", Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	if c1.ID != "c1" || c2.ID != "c2" || !c1.Created.Equal(at) || !c2.Created.Equal(f.clock.Now()) || !c2.Internal {
		t.Errorf("comments %+v %+v", c1, c2)
	}
	f.clock.Advance(time.Minute)
	if err := f.c.UpdateComment(bg, "BL-1", "c1", "Client feedback: ship it"); err != nil {
		t.Fatal(err)
	}
	if err := f.c.DeleteComment(bg, "BL-1", "c2"); err != nil {
		t.Fatal(err)
	}
	rec := f.get(t, "BL-1")
	if len(rec.Comments) != 1 {
		t.Fatalf("comments %+v", rec.Comments)
	}
	got := rec.Comments[0]
	if got.ID != "c1" || got.Body != "Client feedback: ship it" || got.Author != "alice" || !got.Created.Equal(at) || !got.Updated.Equal(f.clock.Now()) {
		t.Errorf("comment %+v", got)
	}
	// A deleted comment's id is not given out again while later ones exist,
	// and missing comments are not found.
	c3, _ := f.c.CreateComment(bg, "BL-1", connectors.Comment{Body: "third"})
	if c3.ID != "c2" && c3.ID != "c3" {
		t.Errorf("new comment id %q", c3.ID)
	}
	if err := f.c.UpdateComment(bg, "BL-1", "c99", "x"); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("edit missing comment: %v", err)
	}
	if err := f.c.DeleteComment(bg, "BL-1", "c99"); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("delete missing comment: %v", err)
	}
	// Deleting the last comment removes the key.
	for _, c := range f.get(t, "BL-1").Comments {
		if err := f.c.DeleteComment(bg, "BL-1", c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(f.read(t, "BL-1.yaml"), "comments:") {
		t.Error("an empty comments key was left")
	}
}

func TestAHandWrittenCommentKeepsItsIDOnceBacklogdWrites(t *testing.T) {
	f := newFixture(t)
	f.write(t, "x.yaml", "title: x\ncomments:\n  - author: bob\n    body: typo hre\n")
	id := f.get(t, "x").Comments[0].ID
	// Any write stamps the derived id into the file...
	if _, err := f.c.Update(bg, "x", "", fields("title", "y"), ""); err != nil {
		t.Fatal(err)
	}
	mustContain(t, f.read(t, "x.yaml"), "id: "+id)
	// ...so the person fixing the typo does not make it a new comment.
	editText(t, f.dir, "x.yaml", "typo hre", "typo here")
	got := f.get(t, "x").Comments
	if len(got) != 1 || got[0].ID != id || got[0].Body != "typo here" {
		t.Errorf("comments %+v, want id %s kept", got, id)
	}
}

func editText(t testing.TB, dir, name, old, new string) {
	t.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWritesLeaveNoTemporaryFiles(t *testing.T) {
	f := newFixture(t)
	for i := range 8 {
		rec := f.create(t, fmt.Sprintf("BL-%d", i), fields("title", "x", "description", strings.Repeat("long text ", 1000)))
		if _, err := f.c.Update(bg, rec.ID, "", fields("title", "y"), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.c.CreateComment(bg, rec.ID, connectors.Comment{Body: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	if tmp := tempFiles(t, f.dir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	for i := range 8 {
		rec := f.get(t, fmt.Sprintf("BL-%d", i))
		if rec.Fields.Get("title") != "y" || len(rec.Fields.Get("description")) != 10000 || len(rec.Comments) != 1 {
			t.Errorf("BL-%d is incomplete: %d bytes of description, %d comments", i, len(rec.Fields.Get("description")), len(rec.Comments))
		}
	}
}

func TestStartupRemovesOnlyOldTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, ".BL-1.yaml.tmp-123")
	young := filepath.Join(dir, ".BL-2.yaml.tmp-456")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("title: half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	f := openFixture(t, dir)
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Error("an hour-old temporary file was kept")
	}
	if _, err := os.Stat(young); err != nil {
		t.Error("a young temporary file (maybe another process's write) was removed")
	}
	if ids, _ := drain(t, f.c, ""); len(ids) != 0 {
		t.Errorf("temporary files listed as records: %v", ids)
	}
}

func TestWriteErrorsSayWhetherRetryingHelps(t *testing.T) {
	tests := []struct {
		err      error
		terminal bool
	}{
		{fs.ErrPermission, true},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, true},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}, true},
		{&fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, false},
		{&fs.PathError{Op: "write", Path: "/x", Err: syscall.EIO}, false},
	}
	for _, tt := range tests {
		err := classifyWrite("/data/home/BL-1.yaml", tt.err)
		if connectors.IsTerminal(err) != tt.terminal {
			t.Errorf("%v: terminal %v, want %v", tt.err, !tt.terminal, tt.terminal)
		}
		mustContain(t, err.Error(), "/data/home/BL-1.yaml")
		if tt.terminal {
			mustContain(t, err.Error(), "make the directory writable")
		}
	}
}

func TestANonDirectoryIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(p)
	if err == nil {
		t.Fatal("New accepted a regular file as its directory")
	}
	mustContain(t, err.Error(), p)
}

func TestConcurrentWritersNeitherLoseNorDuplicate(t *testing.T) {
	f := newFixture(t)
	// Every write is two fsyncs, slow on some disks: few writes, many writers.
	const workers, each = 8, 6
	f.write(t, "shared.yaml", "title: shared\n")
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			cursor := ""
			for i := range each {
				marker := fmt.Sprintf("BL-%d-%d", w, i)
				rec, err := f.c.Create(bg, marker, fields("title", marker))
				if err != nil {
					errs <- err
					continue
				}
				// Everyone also updates a shared record, without a version.
				if _, err := f.c.Update(bg, "shared", "", connectors.Fields{"by-" + marker: {"yes"}}, ""); err != nil {
					errs <- err
				}
				if _, err := f.c.CreateComment(bg, rec.ID, connectors.Comment{Body: marker}); err != nil {
					errs <- err
				}
				if _, err := f.c.FindByMarker(bg, marker); err != nil {
					errs <- fmt.Errorf("find %s right after creating it: %w", marker, err)
				}
				p, err := f.c.Changes(bg, cursor)
				if err != nil {
					errs <- err
				}
				cursor = p.Cursor
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ids, _ := drain(t, f.c, "")
	if len(ids) != workers*each+1 {
		t.Errorf("%d records, want %d", len(ids), workers*each+1)
	}
	if len(ids) != len(slices.Compact(sorted(ids))) {
		t.Error("a listing returned a record twice")
	}
	shared := f.get(t, "shared")
	if len(shared.Fields) != workers*each+1 {
		t.Errorf("the shared record holds %d fields, want %d: concurrent updates were lost", len(shared.Fields), workers*each+1)
	}
}

func TestALockedDirectoryIsATerminalError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions; TestConformance covers the refusal through the RejectNext hook")
	}
	f := newFixture(t)
	f.create(t, "BL-1", fields("title", "Locked"))
	if err := os.Chmod(f.dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(f.dir, 0o755) })
	_, err := f.c.Update(bg, "BL-1", "", fields("title", "x"), "")
	if !connectors.IsTerminal(err) {
		t.Fatalf("update in a read-only directory: %v, want a terminal error", err)
	}
	mustContain(t, err.Error(), "make the directory writable")
	if _, err := f.c.Create(bg, "BL-2", fields("title", "x")); !connectors.IsTerminal(err) {
		t.Fatalf("create in a read-only directory: %v, want a terminal error", err)
	}
}
