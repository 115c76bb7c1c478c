package markup

import "strings"

// kind is the type of a block.
type kind uint8

const (
	kParagraph kind = iota
	kHeading        // level 1..6
	kBullet         // children are kItem
	kOrdered        // start in level; children are kItem
	kItem           // children are blocks
	kCode           // lang, code
	kQuote          // children are blocks
	kRule
	kTable // children are kRow
	kRow   // children are kCell
	kCell  // header marks a header cell; children are blocks
)

// block is a node of the document tree every conversion goes through.
type block struct {
	kind     kind
	level    int // heading level; ordered list start
	lang     string
	code     string
	header   bool
	inlines  []inline
	children []*block
}

// mark is a set of inline formats.
type mark uint8

const (
	mStrong mark = 1 << iota
	mEm
	mStrike
	mCode
)

// inlineKind is the type of an inline.
type inlineKind uint8

const (
	iText    inlineKind = iota
	iBreak              // a line break inside a block
	iMention            // id (tracker's), text (display)
	iImage              // href (source), text (alt)
)

// inline is a run of text with its marks, a line break, a mention or an
// image. href is a link target when set (images: the source).
type inline struct {
	kind  inlineKind
	text  string
	marks mark
	href  string
	id    string
}

// Mentions resolves users between Markdown's "@name" and Jira's
// mentions. A nil Mentions leaves "@name" as text and shows Jira mentions
// by their display text.
type Mentions interface {
	// ID returns the tracker id of the user a Markdown "@name" names
	// (Cloud: account id; Data Center: user name) and the text Jira shows
	// for the mention ("@Alice Martin"); ok is false for anyone else.
	ID(name string) (id, text string, ok bool)
	// Name returns the name that follows "@" in Markdown for the user
	// with tracker id.
	Name(id string) (name string, ok bool)
}

// normalize merges adjacent text runs of equal format and drops empty
// ones, so trees from different parsers compare equal.
func normalize(in []inline) []inline {
	out := in[:0:0]
	for _, r := range in {
		if r.kind == iText && r.text == "" {
			continue
		}
		if n := len(out); n > 0 && r.kind == iText && out[n-1].kind == iText && out[n-1].marks == r.marks && out[n-1].href == r.href {
			out[n-1].text += r.text
			continue
		}
		out = append(out, r)
	}
	return out
}

// trimInlines removes leading and trailing white space and breaks, as
// every markup ignores them at the edges of a block.
func trimInlines(in []inline) []inline {
	for len(in) > 0 {
		f := &in[0]
		if f.kind == iBreak {
			in = in[1:]
			continue
		}
		if f.kind == iText {
			t := strings.TrimLeft(f.text, " \t\n")
			if t == "" {
				in = in[1:]
				continue
			}
			c := *f
			c.text = t
			in = append([]inline{c}, in[1:]...)
		}
		break
	}
	for len(in) > 0 {
		l := &in[len(in)-1]
		if l.kind == iBreak {
			in = in[:len(in)-1]
			continue
		}
		if l.kind == iText {
			t := strings.TrimRight(l.text, " \t\n")
			if t == "" {
				in = in[:len(in)-1]
				continue
			}
			c := *l
			c.text = t
			in = append(append([]inline{}, in[:len(in)-1]...), c)
		}
		break
	}
	return in
}

// plainText returns the text of inlines without formats.
func plainText(in []inline) string {
	var b strings.Builder
	for _, r := range in {
		switch r.kind {
		case iText:
			b.WriteString(r.text)
		case iBreak:
			b.WriteByte('\n')
		case iMention:
			b.WriteString(r.text)
		case iImage:
			b.WriteString(r.text)
		}
	}
	return b.String()
}

// splitMentions turns "@name" in plain text runs into mentions of the
// users m knows. Code and links are left alone.
func splitMentions(in []inline, m Mentions) []inline {
	if m == nil {
		return in
	}
	var out []inline
	for _, r := range in {
		if r.kind != iText || r.marks&mCode != 0 || r.href != "" || !strings.Contains(r.text, "@") {
			out = append(out, r)
			continue
		}
		rest := r.text
		for {
			i, j := nextMention(rest)
			if i < 0 {
				break
			}
			name := rest[i+1 : j]
			id, text, ok := m.ID(name)
			if !ok {
				t := r
				t.text = rest[:j]
				out = append(out, t)
				rest = rest[j:]
				continue
			}
			if i > 0 {
				t := r
				t.text = rest[:i]
				out = append(out, t)
			}
			out = append(out, inline{kind: iMention, id: id, text: text, marks: r.marks &^ mCode})
			rest = rest[j:]
		}
		if rest != "" {
			t := r
			t.text = rest
			out = append(out, t)
		}
	}
	return normalize(out)
}

// nextMention finds the first "@name" in s: the @ is not preceded by a
// letter, digit or one of "_@.", and the name holds letters, digits and
// "._:+@-", ending on a letter or digit (so "@alice." ends a sentence and
// "@alice@acme.com" names a user by e-mail). It returns the indexes of
// the @ and of the end of the name, or -1.
func nextMention(s string) (int, int) {
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		if i > 0 {
			p := s[i-1]
			if isWordByte(p) || p == '_' || p == '@' || p == '.' {
				continue
			}
		}
		j := i + 1
		if j >= len(s) || !isWordByte(s[j]) {
			continue
		}
		last := -1
		for j < len(s) {
			c := s[j]
			if isWordByte(c) {
				last = j
			} else if !strings.ContainsRune("._:+@-", rune(c)) {
				break
			}
			j++
		}
		if last > i {
			return i, last + 1
		}
	}
	return -1, -1
}

// isWordByte reports ASCII letters and digits, and any byte of a
// multi-byte UTF-8 sequence (non-ASCII letters count as word characters).
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
