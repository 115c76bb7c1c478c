package markup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus joins the round-trip corpus into one document.
func corpus(b *testing.B) string {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.md"))
	var parts []string
	for _, f := range files {
		s, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		parts = append(parts, string(s))
	}
	return strings.Join(parts, "\n\n")
}

func BenchmarkConvert(b *testing.B) {
	md := corpus(b)
	u := cloudUsers()
	adf := ToADF(md, u)
	wiki := ToWiki(md, dcUsers())
	b.Run("markdown to ADF", func(b *testing.B) {
		b.SetBytes(int64(len(md)))
		for b.Loop() {
			ToADF(md, u)
		}
	})
	b.Run("ADF to markdown", func(b *testing.B) {
		b.SetBytes(int64(len(md)))
		for b.Loop() {
			if _, err := FromADF(adf, u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("markdown to wiki", func(b *testing.B) {
		b.SetBytes(int64(len(md)))
		for b.Loop() {
			ToWiki(md, dcUsers())
		}
	})
	b.Run("wiki to markdown", func(b *testing.B) {
		b.SetBytes(int64(len(md)))
		for b.Loop() {
			FromWiki(wiki, dcUsers())
		}
	})
}
