package markup

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the converters' output")

// users is a directory of Jira users: Markdown names them by e-mail
// (Cloud, as the client files map people) or by user name (Data Center).
type users struct{ byName, byID map[string]string }

func cloudUsers() users {
	return users{
		byName: map[string]string{"alice@acme.com": "acc-alice", "bob@acme.com": "acc-bob"},
		byID:   map[string]string{"acc-alice": "alice@acme.com", "acc-bob": "bob@acme.com"},
	}
}

func dcUsers() users {
	return users{
		byName: map[string]string{"alice@acme.com": "alice", "bob@acme.com": "bob"},
		byID:   map[string]string{"alice": "alice@acme.com", "bob": "bob@acme.com"},
	}
}

func (u users) ID(name string) (string, string, bool) {
	id, ok := u.byName[name]
	if !ok {
		return "", "", false
	}
	local, _, _ := strings.Cut(name, "@")
	return id, "@" + strings.ToUpper(local[:1]) + local[1:], true
}

func (u users) Name(id string) (string, bool) {
	n, ok := u.byID[id]
	return n, ok
}

// jiraADF re-encodes an ADF document the way Jira Cloud hands it back:
// keys reordered, local ids added to tables and lists, attrs on cells.
func jiraADF(t *testing.T, doc []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("the converter wrote invalid JSON: %v\n%s", err, doc)
	}
	var walk func(v any)
	walk = func(v any) {
		switch n := v.(type) {
		case map[string]any:
			switch n["type"] {
			case "table", "taskList":
				attrs, _ := n["attrs"].(map[string]any)
				if attrs == nil {
					attrs = map[string]any{}
				}
				attrs["localId"] = "0b0e0b0e-1111-2222-3333-444455556666"
				n["attrs"] = attrs
			case "tableCell", "tableHeader":
				n["attrs"] = map[string]any{"colspan": 1, "rowspan": 1}
			}
			for _, c := range n {
				walk(c)
			}
		case []any:
			for _, c := range n {
				walk(c)
			}
		}
	}
	walk(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCorpusRoundTrip is the drift measurement: every document of the
// corpus, written in canonical Markdown, goes to Jira (ADF for Cloud,
// wiki markup for Data Center) and back, and must come back byte for
// byte. The log line gives the corpus size and the drift.
func TestCorpusRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	size, driftADF, driftWiki := 0, 0, 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in := string(src)
		size += len(in)
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			if got := Normalize(in, cloudUsers()); got != in {
				t.Fatalf("the corpus document is not canonical Markdown; Normalize gives:\n%s", got)
			}
			back, err := FromADF(jiraADF(t, ToADF(in, cloudUsers())), cloudUsers())
			if err != nil {
				t.Fatal(err)
			}
			if back != in {
				driftADF++
				t.Errorf("drift through ADF:\n--- sent\n%s\n--- read back\n%s", in, back)
			}
			if back := FromWiki(ToWiki(in, dcUsers()), dcUsers()); back != in {
				driftWiki++
				t.Errorf("drift through wiki markup:\n--- sent\n%s\n--- wiki\n%s\n--- read back\n%s", in, ToWiki(in, dcUsers()), back)
			}
		})
	}
	t.Logf("markup corpus: %d documents, %d bytes; drift: %d through ADF, %d through wiki markup", len(files), size, driftADF, driftWiki)
}

// TestRoundTripGolden records what each feature becomes in ADF and wiki
// markup and checks it comes back unchanged (normalize.md shows the
// spellings that are normalised once).
func TestRoundTripGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "roundtrip", "*.md"))
	if len(files) == 0 {
		t.Fatal("no round-trip cases")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".md")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in := string(src)
			canonical := Normalize(in, cloudUsers())
			adf := ToADF(in, cloudUsers())
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, adf, "", "  "); err != nil {
				t.Fatalf("invalid ADF: %v", err)
			}
			fromADF, err := FromADF(jiraADF(t, adf), cloudUsers())
			if err != nil {
				t.Fatal(err)
			}
			wiki := ToWiki(in, dcUsers())
			fromWiki := FromWiki(wiki, dcUsers())
			got := section("canonical markdown", canonical) + section("adf (cloud)", pretty.String()) +
				section("markdown from adf", fromADF) + section("wiki (data center)", wiki) + section("markdown from wiki", fromWiki)
			golden(t, name, got)
			if name == "lossy" {
				// Recorded in the golden file; what matters is that the
				// second round trip changes nothing more.
				if again, _ := FromADF(ToADF(fromADF, cloudUsers()), cloudUsers()); again != fromADF {
					t.Errorf("ADF round trip not stable:\n%s", again)
				}
				if again := FromWiki(ToWiki(fromWiki, dcUsers()), dcUsers()); again != fromWiki {
					t.Errorf("wiki round trip not stable:\n%s", again)
				}
				return
			}
			if name == "normalize" {
				if Normalize(canonical, cloudUsers()) != canonical {
					t.Errorf("normalising twice changes the text again")
				}
			} else if canonical != in {
				t.Errorf("the case is not canonical Markdown:\n%s", canonical)
			}
			if fromADF != canonical {
				t.Errorf("drift through ADF:\n%s", fromADF)
			}
			if fromWiki != canonical {
				t.Errorf("drift through wiki markup:\n%s", fromWiki)
			}
		})
	}
}

// TestFromJiraGolden reads documents as Jira's editors write them,
// constructs and all, and records the Markdown they become; converting
// that Markdown back and forth again must not change it.
func TestFromJiraGolden(t *testing.T) {
	t.Run("an ADF document from the Cloud editor", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join("testdata", "jira", "cloud-editor.json"))
		if err != nil {
			t.Fatal(err)
		}
		md, err := FromADF(src, cloudUsers())
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "jira-cloud-editor", md+"\n")
		again, err := FromADF(ToADF(md, cloudUsers()), cloudUsers())
		if err != nil || again != md {
			t.Errorf("not stable after the first read (%v):\n%s", err, again)
		}
	})
	t.Run("wiki markup from the Data Center editor", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join("testdata", "jira", "datacenter-editor.wiki"))
		if err != nil {
			t.Fatal(err)
		}
		md := FromWiki(string(src), dcUsers())
		golden(t, "jira-datacenter-editor", md+"\n")
		if again := FromWiki(ToWiki(md, dcUsers()), dcUsers()); again != md {
			t.Errorf("not stable after the first read:\n%s\n--- wiki\n%s", again, ToWiki(md, dcUsers()))
		}
	})
}

func section(title, body string) string {
	return "-- " + title + " --\n" + body + "\n"
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the converters' output (go test -update rewrites it):\n%s", path, got)
	}
}

func TestConvertersNeverFailOnText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"an empty description stays empty", "", ""},
		{"white space only is empty", " \n\t\n", ""},
		{"a stray delimiter is text", "a ** b", "a ** b"},
		{"an unclosed fence runs to the end", "```\ncode", "```\ncode\n```"},
		{"raw HTML is kept as text", "<div>x</div>", "\\<div>x\\</div>"},
		{"a <br> is a line break", "a<br>b", "a\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in, nil); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := FromADF(ToADF(tt.in, nil), nil)
			if err != nil || back != tt.want {
				t.Errorf("through ADF: %q, %v; want %q", back, err, tt.want)
			}
			if back := FromWiki(ToWiki(tt.in, nil), nil); back != tt.want {
				t.Errorf("through wiki: %q; want %q", back, tt.want)
			}
		})
	}
}

func TestADFRejectsWhatJiraRejects(t *testing.T) {
	t.Run("code keeps only its link: Jira refuses code with other marks", func(t *testing.T) {
		doc := string(ToADF("**`x`**", nil))
		if strings.Contains(doc, "strong") {
			t.Errorf("strong combined with code: %s", doc)
		}
	})
	t.Run("a list item starts with a paragraph", func(t *testing.T) {
		doc := string(ToADF("- - nested first", nil))
		if !strings.Contains(doc, `"listItem","content":[{"type":"paragraph"},{"type":"bulletList"`) {
			t.Errorf("no leading paragraph: %s", doc)
		}
		if back, _ := FromADF([]byte(doc), nil); back != "- - nested first" {
			t.Errorf("read back %q", back)
		}
	})
	t.Run("a quote holds no heading", func(t *testing.T) {
		doc := string(ToADF("> # h", nil))
		if strings.Contains(doc, "heading") {
			t.Errorf("heading in a blockquote: %s", doc)
		}
	})
	t.Run("an empty document is a document with empty content", func(t *testing.T) {
		if got := string(ToADF("", nil)); got != `{"type":"doc","version":1,"content":[]}` {
			t.Errorf("got %s", got)
		}
	})
	t.Run("JSON that is not a document is an error, never a panic", func(t *testing.T) {
		if _, err := FromADF([]byte(`"just a string"`), nil); err == nil {
			t.Error("no error")
		}
	})
}

func TestMentions(t *testing.T) {
	t.Run("a known user becomes a mention and comes back by name", func(t *testing.T) {
		doc := string(ToADF("hi @alice@acme.com.", cloudUsers()))
		if !strings.Contains(doc, `"type":"mention","attrs":{"id":"acc-alice"`) {
			t.Fatalf("no mention: %s", doc)
		}
		if got := ToWiki("hi @alice@acme.com.", dcUsers()); got != "hi [~alice]." {
			t.Errorf("wiki: %q", got)
		}
	})
	t.Run("an unknown name stays text", func(t *testing.T) {
		if doc := string(ToADF("hi @carol", cloudUsers())); strings.Contains(doc, "mention") {
			t.Errorf("mention of an unknown user: %s", doc)
		}
	})
	t.Run("a mention the directory does not know shows its display text", func(t *testing.T) {
		md, err := FromADF([]byte(`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"mention","attrs":{"id":"acc-x","text":"@Xavier"}}]}]}`), cloudUsers())
		if err != nil || md != "@Xavier" {
			t.Errorf("got %q, %v", md, err)
		}
	})
	t.Run("the names to resolve are listed once each", func(t *testing.T) {
		got := MarkdownMentions("@a and @b, mail x@y.z, again @a.")
		if strings.Join(got, ",") != "a,b" {
			t.Errorf("got %v", got)
		}
		if ids := ADFMentions(ToADF("@alice@acme.com", cloudUsers())); len(ids) != 1 || ids[0] != "acc-alice" {
			t.Errorf("ADF ids %v", ids)
		}
		if ids := WikiMentions("[~alice] and [~bob]"); strings.Join(ids, ",") != "alice,bob" {
			t.Errorf("wiki ids %v", ids)
		}
	})
}

// TestReadingWikiTakesWorkInProportionToItsLength: a body full of inline
// markers that never close (a log pasted into a description) is read on
// every poll; each opener used to scan the rest of the line for its
// closer, which took seconds for tens of kilobytes.
func TestReadingWikiTakesWorkInProportionToItsLength(t *testing.T) {
	const n = 12 << 10
	s := unmatchedMarkers(n)
	before := scanSteps.Load()
	md := FromWiki(s, nil)
	steps := scanSteps.Load() - before
	if steps > 64*n {
		t.Errorf("reading %d bytes of unmatched markers took %d scanning steps, %d a byte; want a bounded number per byte", n, steps, steps/n)
	}
	if !strings.Contains(md, "a") {
		t.Errorf("the text was lost: %.80q", md)
	}
}
