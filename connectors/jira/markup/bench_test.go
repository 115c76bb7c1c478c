package markup

import (
	"os"
	"path/filepath"
	"strconv"
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

// unmatchedMarkers is n bytes of one wiki line full of markers that open
// and never close: each opener used to scan the rest of the line.
func unmatchedMarkers(n int) string {
	unit := "*a _b -c +d ~e [f {{g {*}h ^i ??j "
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// BenchmarkFromWikiUnmatchedMarkers reads a body of unmatched inline
// markers, at two sizes: the time per byte stays flat when the parser is
// linear (it grew with the size, 9 s for 60 KB, when it was quadratic).
func BenchmarkFromWikiUnmatchedMarkers(b *testing.B) {
	for _, n := range []int{6 << 10, 60 << 10} {
		s := unmatchedMarkers(n)
		b.Run(strconv.Itoa(n>>10)+"KB", func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				FromWiki(s, dcUsers())
			}
		})
	}
}
