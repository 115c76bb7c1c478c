package markup

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// seeds adds the corpus and the golden inputs to a fuzz target.
func seeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(filepath.Join("testdata", p))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(string(b))
			}
		}
	}
}

// FuzzMarkdown sends any text through both Jira markups: the converters
// never panic, ADF output is a JSON document, and repeated round trips
// settle: whatever a first trip normalises (text Markdown cannot spell
// back the same way), the third trip gives what the second gave.
// Canonical text has no drift at all (TestCorpusRoundTrip).
func FuzzMarkdown(f *testing.F) {
	seeds(f, "corpus/*.md", "roundtrip/*.md")
	f.Add("- [x](<a b>) *a **b** c* \\\n`` ` `` <br/> &amp; @alice@acme.com")
	f.Fuzz(func(t *testing.T, md string) {
		if !utf8.ValidString(md) {
			return
		}
		u := cloudUsers()
		doc := ToADF(md, u)
		var probe struct {
			Type    string            `json:"type"`
			Content []json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(doc, &probe); err != nil || probe.Type != "doc" || probe.Content == nil {
			t.Fatalf("ToADF(%q) is not a document: %v\n%s", md, err, doc)
		}
		once, err := FromADF(doc, u)
		if err != nil {
			t.Fatalf("FromADF of our own document: %v", err)
		}
		adf := func(s string) string { out, _ := FromADF(ToADF(s, u), u); return out }
		if twice, thrice := adf(once), adf(adf(once)); thrice != twice {
			t.Errorf("ADF round trips do not settle for %q:\n--- second\n%s\n--- third\n%s", md, twice, thrice)
		}
		d := dcUsers()
		wiki := func(s string) string { return FromWiki(ToWiki(s, d), d) }
		if twice, thrice := wiki(wiki(md)), wiki(wiki(wiki(md))); thrice != twice {
			t.Errorf("wiki round trips do not settle for %q:\n--- second\n%s\n--- third\n%s", md, twice, thrice)
		}
	})
}

// FuzzFromADF reads any bytes as an ADF document, as a tracker (or
// anything pretending to be one) may send: no panic, and round trips of
// the Markdown it gives settle.
func FuzzFromADF(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "jira", "cloud-editor.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":" a ","marks":[{"type":"strong"},{"type":"link","attrs":{"href":7}}]}]}]}`))
	f.Add([]byte(`{"type":"doc","content":[{"type":"orderedList","attrs":{"order":-3},"content":[null,{"type":"listItem"}]}]}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		u := cloudUsers()
		md, err := FromADF(doc, u)
		if err != nil {
			return
		}
		adf := func(s string) string { out, _ := FromADF(ToADF(s, u), u); return out }
		if twice, thrice := adf(adf(md)), adf(adf(adf(md))); thrice != twice {
			t.Errorf("round trips do not settle:\n--- second\n%s\n--- third\n%s", twice, thrice)
		}
	})
}

// FuzzFromWiki reads any text as wiki markup: no panic, and round trips
// of the Markdown it gives settle.
func FuzzFromWiki(f *testing.F) {
	seeds(f, "jira/*.wiki")
	f.Add("*a _b* c_ {{x}} [a|b] [~u] !i.png! ||h|| \\\\ &#92; {code}x")
	f.Add("{quote}{quote}{quote}\n# a\n*# b\n- c")
	f.Fuzz(func(t *testing.T, wiki string) {
		if !utf8.ValidString(wiki) {
			return
		}
		d := dcUsers()
		md := FromWiki(wiki, d)
		rt := func(s string) string { return FromWiki(ToWiki(s, d), d) }
		if twice, thrice := rt(rt(md)), rt(rt(rt(md))); thrice != twice {
			t.Errorf("round trips do not settle for %q:\n--- second\n%s\n--- third\n%s", wiki, twice, thrice)
		}
	})
}
