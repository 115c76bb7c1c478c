package mapping

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
)

// Canonical text is Markdown written for every tracker at once, and two
// kinds of token in it mean something to one tracker only: @name
// mentions (GitHub and Redmine notify that user) and #123 references
// (GitHub and Redmine link their own issue 123, which has nothing to do
// with the item). On the way to a tracker, in comments, descriptions and
// acceptance criteria:
//
//   - a mention of a mapped user (@alice) becomes the tracker's name
//     (@alice-acme), which notifies them;
//   - any other mention, and every #123, gets U+200B ZERO WIDTH SPACE
//     after its sigil (@\u200bcarol, #\u200b123): the text reads the same
//     while no tracker pings or links it;
//   - a token the record's text already holds as it is (a GitHub user's
//     own "#12" or "@dave" in the body) stays as it is, so the syncer
//     never rewrites what a person typed in the tracker.
//
// On the way back neutralised tokens are restored and the tracker names
// of mapped users become canonical names again, so text round-trips.
// Code spans, fenced code blocks, link destinations and URLs are left
// alone: nothing in them pings or links (and a decorator in a code block
// is not a mention). Titles are plain text and pass through unchanged.

// zwsp is inserted after the sigil of a token backlogd must not deliver.
const zwsp = "\u200b"

// CommentAllowed reports whether a canonical comment may reach the
// tracker (never an internal one unless InternalComments).
func (c *Client) CommentAllowed(cm backlog.Comment) bool {
	return !cm.Internal() || c.InternalComments
}

// ToComment renders a canonical comment for the tracker: the author
// through the user map, mentions mapped or neutralised and #123
// references neutralised (see above). FromComment undoes both.
func (c *Client) ToComment(cm backlog.Comment) connectors.Comment {
	author := cm.Author
	if u, ok := c.Users[author]; ok {
		author = u
	}
	return connectors.Comment{
		Author:   author,
		Body:     c.toText(cm.Body, nil),
		Created:  cm.Created,
		Internal: cm.Internal(),
	}
}

// FromComment reads a tracker comment as a canonical one (visibility
// internal when the tracker comment is internal, else client). The author
// and mentions of mapped tracker users come back as canonical names, and
// neutralised mentions and references are restored. The id is left for
// the syncer.
func (c *Client) FromComment(rc connectors.Comment) backlog.Comment {
	author := rc.Author
	for k, v := range c.Users {
		if v == author {
			author = k
			break
		}
	}
	vis := backlog.VisibilityClient
	if rc.Internal {
		vis = backlog.VisibilityInternal
	}
	return backlog.Comment{
		Author:     author,
		Body:       c.fromText(rc.Body),
		Created:    rc.Created.UTC(),
		Visibility: vis,
	}
}

// isMarkup reports whether a canonical field holds Markdown text, whose
// mentions and references ToRecord and FromRecord map.
func isMarkup(f backlog.Field) bool {
	return f == backlog.FieldDescription || f == backlog.FieldAcceptance
}

// toTexts renders canonical text values for the tracker; current holds
// the record's values now, whose own tokens are kept.
func (c *Client) toTexts(vals, current []string) []string {
	if len(vals) == 0 {
		return vals
	}
	var keep map[string]bool
	for _, cur := range current {
		for _, tk := range scanTokens(cur) {
			if !tk.neutral {
				if keep == nil {
					keep = map[string]bool{}
				}
				keep[tk.text] = true
			}
		}
	}
	return mapTexts(vals, func(v string) string { return c.toText(v, keep) })
}

// mapTexts applies f to every value, allocating only when one changes
// (most text holds no token: the syncer renders it on every reconcile).
func mapTexts(vals []string, f func(string) string) []string {
	var out []string
	for i, v := range vals {
		w := f(v)
		if w != v && out == nil {
			out = make([]string, len(vals))
			copy(out, vals[:i])
		}
		if out != nil {
			out[i] = w
		}
	}
	if out == nil {
		return vals
	}
	return out
}

// fromTexts reads tracker text values back as canonical text.
func (c *Client) fromTexts(vals []string) []string {
	return mapTexts(vals, c.fromText)
}

// toText renders one canonical text; keep holds the tokens ("@dave",
// "#12") the record's text already shows as they are.
func (c *Client) toText(s string, keep map[string]bool) string {
	return replaceTokens(s, func(tk textToken) string {
		switch {
		case tk.neutral || keep[tk.text]:
			return tk.text
		case tk.sigil == '@':
			if u, ok := c.Users[tk.name]; ok {
				return "@" + u
			}
		}
		return string(tk.sigil) + zwsp + tk.name
	})
}

// fromText reads one tracker text back as canonical text.
func (c *Client) fromText(s string) string {
	var rev map[string]string
	return replaceTokens(s, func(tk textToken) string {
		switch {
		case tk.neutral:
			return string(tk.sigil) + tk.name
		case tk.sigil == '@':
			if rev == nil {
				rev = make(map[string]string, len(c.Users))
				for k, v := range c.Users {
					rev[v] = k
				}
			}
			if u, ok := rev[tk.name]; ok {
				return "@" + u
			}
		}
		return tk.text
	})
}

// textToken is a mention or an issue reference in Markdown text.
type textToken struct {
	start, end int    // byte offsets in the text
	text       string // as written, zwsp included
	sigil      byte   // '@' or '#'
	name       string // the user name, or the issue number's digits
	neutral    bool   // written neutralised, with zwsp after the sigil
}

// replaceTokens returns s with every textToken replaced by f's answer.
func replaceTokens(s string, f func(textToken) string) string {
	tks := scanTokens(s)
	if len(tks) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4*len(tks))
	last := 0
	for _, tk := range tks {
		b.WriteString(s[last:tk.start])
		b.WriteString(f(tk))
		last = tk.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// scanTokens finds the mentions and references of s outside fenced code
// blocks, code spans (within one line), link destinations and URLs.
//
// A mention is @ not preceded by a letter, digit or one of _ @ . / \ (so
// e-mail addresses and paths like node_modules/@types are not mentions), then a name of letters, digits, . _ -
// ending on a letter or digit ("@alice." ends a sentence). A reference is
// # not preceded by a letter, digit or one of _ & # / \ (so HTML
// entities, anchors and paths are not references), then digits not
// followed by a letter, digit or _ ("#12abc" is no reference).
func scanTokens(s string) []textToken {
	var out []textToken
	fence := "" // the open fence's marker, "" outside code blocks
	for lineStart := 0; lineStart < len(s); {
		lineEnd := strings.IndexByte(s[lineStart:], '\n')
		if lineEnd < 0 {
			lineEnd = len(s)
		} else {
			lineEnd += lineStart
		}
		line := s[lineStart:lineEnd]
		if f := fenceOf(line); f != "" {
			switch {
			case fence == "":
				fence = f
			case f[0] == fence[0] && len(f) >= len(fence) && strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), f[:1])) == "":
				fence = ""
			}
		} else if fence == "" {
			out = scanLine(s, lineStart, lineEnd, out)
		}
		lineStart = lineEnd + 1
	}
	return out
}

// fenceOf returns the backtick or tilde run opening a fenced code block
// line (at most three spaces of indent, three or more of one), or "".
func fenceOf(line string) string {
	trimmed := strings.TrimLeft(line, " ")
	if len(line)-len(trimmed) > 3 || len(trimmed) < 3 || (trimmed[0] != '`' && trimmed[0] != '~') {
		return ""
	}
	n := 0
	for n < len(trimmed) && trimmed[n] == trimmed[0] {
		n++
	}
	if n < 3 {
		return ""
	}
	return trimmed[:n]
}

// scanLine appends the tokens of s[from:to], one line outside code blocks.
func scanLine(s string, from, to int, out []textToken) []textToken {
	for i := from; i < to; {
		c := s[i]
		switch {
		case c == '`':
			n := run(s, i, to, '`')
			if end := closingRun(s, i+n, to, n); end >= 0 {
				i = end + n // a code span: skipped whole
			} else {
				i += n
			}
			continue
		case c == ']' && i+1 < to && s[i+1] == '(':
			if end := strings.IndexByte(s[i:to], ')'); end > 0 {
				i += end + 1 // a link destination
				continue
			}
		case isURLStart(s, i, to):
			for i < to && s[i] != ' ' && s[i] != '\t' && s[i] != '<' && s[i] != '>' {
				i++
			}
			continue
		case c == '@' || c == '#':
			if tk, ok := tokenAt(s, i, to, from); ok {
				out = append(out, tk)
				i = tk.end
				continue
			}
		}
		i++
	}
	return out
}

// run counts the bytes equal to c from i.
func run(s string, i, to int, c byte) int {
	n := 0
	for i+n < to && s[i+n] == c {
		n++
	}
	return n
}

// closingRun finds the next run of exactly n backticks at or after i.
func closingRun(s string, i, to, n int) int {
	for i < to {
		if s[i] != '`' {
			i++
			continue
		}
		m := run(s, i, to, '`')
		if m == n {
			return i
		}
		i += m
	}
	return -1
}

// isURLStart reports whether a URL (scheme://… or www.…) starts at i.
func isURLStart(s string, i, to int) bool {
	if i > 0 && isWord(lastRune(s[:i])) {
		return false
	}
	rest := s[i:to]
	if strings.HasPrefix(rest, "www.") {
		return true
	}
	j := 0
	for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z' ||
		j > 0 && (rest[j] >= '0' && rest[j] <= '9' || rest[j] == '+' || rest[j] == '.' || rest[j] == '-')) {
		j++
	}
	return j > 0 && strings.HasPrefix(rest[j:], "://")
}

// tokenAt reads a mention or a reference whose sigil is at s[i]; from is
// where the line starts.
func tokenAt(s string, i, to, from int) (textToken, bool) {
	sigil := s[i]
	if i > from {
		p := lastRune(s[from:i])
		if isWord(p) || (sigil == '@' && strings.ContainsRune("@./\\", p)) ||
			(sigil == '#' && strings.ContainsRune("&#/\\", p)) {
			return textToken{}, false
		}
	}
	j := i + 1
	neutral := strings.HasPrefix(s[j:to], zwsp)
	if neutral {
		j += len(zwsp)
	}
	k := j
	if sigil == '@' {
		for k < to {
			r, size := utf8.DecodeRuneInString(s[k:to])
			if !isWord(r) && r != '.' && r != '-' {
				break
			}
			k += size
		}
		for k > j { // a name ends on a letter or digit
			r, size := utf8.DecodeLastRuneInString(s[j:k])
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				break
			}
			k -= size
		}
		if k == j {
			return textToken{}, false
		}
		if r, _ := utf8.DecodeRuneInString(s[j:k]); !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return textToken{}, false
		}
	} else {
		for k < to && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k == j {
			return textToken{}, false
		}
		if k < to {
			if r, _ := utf8.DecodeRuneInString(s[k:to]); isWord(r) {
				return textToken{}, false
			}
		}
	}
	return textToken{start: i, end: k, text: s[i:k], sigil: sigil, name: s[j:k], neutral: neutral}, true
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}
