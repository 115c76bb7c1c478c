package file

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

func TestParseReportsTheLineAndWhatToFix(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		want string
	}{
		{"an unclosed list names the line it opens on", "title: ok\nlabels: [a, b\nstatus: todo\n", 2, "invalid YAML"},
		{"a tab indentation is invalid YAML", "title: x\nlabels:\n\t- a\n", 3, "invalid YAML"},
		{"a list at the top is not an item", "- a\n- b\n", 1, "a YAML mapping"},
		{"plain text is not an item", "just some text\n", 1, "a YAML mapping"},
		{"a key written twice", "title: a\nstatus: todo\ntitle: b\n", 3, `key "title" appears twice (first at line 1)`},
		{"a list of mappings is no field", "title: x\nlabels:\n  - name: a\n", 3, "labels: item 1 is a mapping"},
		{"a nested list is no field", "labels:\n  - [a, b]\n", 2, "labels: item 1 is a list"},
		{"an id that is a list", "id: [BL-1, BL-2]\n", 1, "id holds a list"},
		{"a time that is not a time", "title: x\ncreated: yesterday\n", 2, `created "yesterday" is not a time`},
		{"comments that are not a list", "comments: nice\n", 1, "write a list of comments"},
		{"a comment with an unknown key", "comments:\n  - author: a\n    text: hi\n", 3, `unknown key "text"`},
		{"a comment flag that is not a bool", "comments:\n  - body: hi\n    internal: maybe\n", 3, `internal "maybe" is not true or false`},
		{"two comments with one id", "comments:\n  - id: c1\n    body: a\n  - id: c1\n    body: b\n", 4, `comment id "c1" appears twice`},
		{"a dotted field written twice", "estimate.points: 3\nestimate:\n  points: 4\n", 3, "written twice"},
		{"an alias", "base: &b x\ntitle: *b\n", 2, "aliases"},
		{"two documents name the separator", "title: a\n---\ntitle: b\n", 2, "more than one YAML document"},
		{"invalid UTF-8", "title: ok\ndescription: \xff\xfe\n", 2, "not valid UTF-8"},
		{"an empty key", "\"\": x\n", 1, "a key is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("/data/home/login-bug.yaml", []byte(tt.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("parse: got %v, want a *ParseError", err)
			}
			if pe.Line != tt.line {
				t.Errorf("line %d, want %d (%v)", pe.Line, tt.line, err)
			}
			mustContain(t, err.Error(), "/data/home/login-bug.yaml:", tt.want)
		})
	}
}

func TestParseReadsEveryShapeAPersonWrites(t *testing.T) {
	in := `# my notes on this one

id: " BL-7 "
title: Login fails   # from the call
estimate:
  points: 3
  effort: 1.50
due: 2024-05-01
flag: true
empty:
nothing: ~
quoted: "null"
labels: [a, b]
teams: []
acceptance:
  - works
  - ~
comments:
  - author: bob
    created: 2024-05-01
    body: hand written
  - id: c9
    author: alice
    internal: yes
    created: 2024-05-02T08:00:00+02:00
    body: |
      two
      lines
created: 2024-04-01 09:30:00
`
	it, err := parse("x.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if it.marker != "BL-7" {
		t.Errorf("marker %q, want BL-7 (trimmed)", it.marker)
	}
	want := connectors.Fields{
		"title":           {"Login fails"},
		"estimate.points": {"3"},
		"estimate.effort": {"1.50"},
		"due":             {"2024-05-01"},
		"flag":            {"true"},
		"quoted":          {"null"},
		"labels":          {"a", "b"},
		"acceptance":      {"works", ""},
	}
	if !fieldsEqual(it.fields, want) {
		t.Errorf("fields\n got %v\nwant %v", it.fields, want)
	}
	if !it.created.Equal(time.Date(2024, 4, 1, 9, 30, 0, 0, time.UTC)) {
		t.Errorf("created %v", it.created)
	}
	if len(it.comments) != 2 {
		t.Fatalf("comments %+v", it.comments)
	}
	hand, c9 := it.comments[0], it.comments[1]
	if !strings.HasPrefix(hand.ID, "h") || hand.Author != "bob" || hand.Body != "hand written" || !hand.Created.Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("hand-written comment %+v", hand)
	}
	if c9.ID != "c9" || !c9.Internal || c9.Body != "two\nlines\n" || !c9.Created.Equal(time.Date(2024, 5, 2, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("comment c9 %+v", c9)
	}
}

func TestParseAcceptsEmptyFiles(t *testing.T) {
	for _, in := range []string{"", "\n", "# just a comment\n", "~\n", "---\n"} {
		it, err := parse("x.yaml", []byte(in))
		if err != nil {
			t.Errorf("parse %q: %v", in, err)
			continue
		}
		if len(it.fields) != 0 || it.marker != "" {
			t.Errorf("parse %q: %+v", in, it)
		}
	}
}

func TestVersionIgnoresOnlyTheVersionLine(t *testing.T) {
	a := "title: x\nversion: aaaa\n"
	b := "title: x\nversion: bbbb\n"
	c := "title: y\nversion: aaaa\n"
	ha, hb, hc := mustParse(t, a).hash, mustParse(t, b).hash, mustParse(t, c).hash
	if ha != hb {
		t.Errorf("the version line changed the hash: %s vs %s", ha, hb)
	}
	if ha == hc {
		t.Error("a changed title left the hash as it was")
	}
	// A flow mapping on one line must not drop every field from the hash.
	if mustParse(t, "{title: x, version: a}").hash == mustParse(t, "{title: y, version: a}").hash {
		t.Error("a flow mapping's fields are outside the hash")
	}
}

func mustParse(t testing.TB, s string) *item {
	t.Helper()
	it, err := parse("x.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func fieldsEqual(a, b connectors.Fields) bool {
	clean := func(f connectors.Fields) connectors.Fields {
		out := connectors.Fields{}
		for k, v := range f {
			if len(v) > 0 && !(len(v) == 1 && v[0] == "") {
				out[k] = v
			}
		}
		return out
	}
	a, b = clean(a), clean(b)
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// awkward are values a tracker can hand us that YAML makes hard to keep.
var awkward = []string{
	"true", "3", "1.50", "0x1F", "2024-05-01", "yes", "~", "null", "NULL", "a: b", "- x", "#c", "x #c",
	"[a]", "{a}", "@x", "*x", "&x", "!x", "|", ">", "%x", "'q", `"q`, "?", "<<", " lead", "trail ",
	"multi\nline", "multi\nline\n", "a\n\n", "\n", "\n\nx", "  x\ny", "tr \nx", "\r\nx", "line\r",
	"tab\tx", "x\ty\nz", "\x00", "\x7f", "é ü 中文", "\u2028", "\ufeffbom", "x\u0085y", "a\u00a0",
	"--- ", "...", "text\n---\nmore", "# not a comment\n", strings.Repeat("long ", 200),
}

func TestAwkwardValuesReadBackAsWritten(t *testing.T) {
	f := newFixture(t)
	for i, v := range awkward {
		rec, err := f.c.Create(bg, "BL-1", connectors.Fields{"title": {v}, "labels": {v, "x"}, "notes": {v}})
		if err != nil {
			t.Errorf("create with %q: %v", v, err)
			continue
		}
		got := f.get(t, rec.ID)
		if g := got.Fields["title"]; !slices.Equal(g, []string{v}) {
			t.Errorf("%d: title %q read back as %q", i, v, g)
		}
		if g := got.Fields["labels"]; !slices.Equal(g, []string{v, "x"}) {
			t.Errorf("%d: labels [%q x] read back as %q", i, v, g)
		}
		if got.Version != rec.Version {
			t.Errorf("%d: version moved between create and get", i)
		}
	}
}

func TestInvalidUTF8IsRefusedNotMangled(t *testing.T) {
	f := newFixture(t)
	_, err := f.c.Create(bg, "BL-1", connectors.Fields{"title": {"ok \xff"}})
	if !connectors.IsTerminal(err) {
		t.Fatalf("got %v, want a terminal error", err)
	}
	mustContain(t, err.Error(), "title", "UTF-8")
}

// FuzzParse feeds the parser anything: it must never panic, and a file it
// accepts must survive an edit: the untouched fields read back as they
// were, the edited one as written.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"", "title: x\n", "id: BL-1\ntitle: a\nlabels: [a, b]\n",
		"estimate:\n  points: 3\n", "comments:\n  - id: c1\n    body: hi\n",
		"a: &x 1\nb: *x\n", "{title: x, version: y}", "- a\n", "title: |\n  a\n  b\n",
		"title: x\n---\ny: 2\n", "? [a]\n: b\n", "title: !!binary aGk=\n", "x: [[[[[[[[[[]]]]]]]]]]\n",
		"comments:\n  - body: hi\n    created: 2024-05-01\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), "title", "new value")
	}
	f.Fuzz(func(t *testing.T, raw []byte, name, value string) {
		it, err := parse("fuzz.yaml", raw)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if checkFieldName(name) != nil || checkValues(name, []string{value}) != nil {
			return
		}
		before := it.fields.Clone()
		if err := setField(it.root, name, []string{value}); err != nil {
			return // refusing is fine; panicking or losing data is not
		}
		_, back, err := render("fuzz.yaml", it)
		if err != nil {
			return // a value YAML cannot hold is refused
		}
		for n, v := range before {
			if n == name || strings.HasPrefix(n, name+".") || strings.HasPrefix(name, n+".") {
				continue
			}
			if !slices.Equal(back.fields[n], v) {
				t.Fatalf("field %s was %q, reads back %q after editing %s", n, v, back.fields[n], name)
			}
		}
		if value != "" && !slices.Equal(back.fields[name], []string{value}) {
			t.Fatalf("field %s written %q reads back %q", name, value, back.fields[name])
		}
		if back.stamp != back.hash {
			t.Fatalf("a file backlogd wrote reads as hand-edited")
		}
	})
}

// FuzzValueRoundTrip checks that any valid text value survives a write.
func FuzzValueRoundTrip(f *testing.F) {
	for _, v := range awkward {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if checkValues("title", []string{v}) != nil {
			return
		}
		it := newItem()
		if err := setField(it.root, "title", []string{v}); err != nil {
			t.Fatal(err)
		}
		if err := setField(it.root, "labels", []string{v, v + "2"}); err != nil {
			t.Fatal(err)
		}
		_, back, err := render("fuzz.yaml", it)
		if err != nil {
			t.Fatalf("value %q refused: %v", v, err)
		}
		if v != "" && !slices.Equal(back.fields["title"], []string{v}) {
			t.Fatalf("title %q reads back as %q", v, back.fields["title"])
		}
	})
}
