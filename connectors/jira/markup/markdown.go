package markup

import (
	"bufio"
	"bytes"
	"html"
	"regexp"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	ghtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// md is CommonMark with GFM tables and strikethrough; no linkify, so a
// bare URL stays text (Jira shows it as a link anyway) and comes back as
// it was written.
var md = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

// parseMarkdown reads canonical Markdown into the document tree.
func parseMarkdown(src string, m Mentions) []*block {
	// CommonMark reads NUL as U+FFFD; doing it first keeps delimiters
	// next to it flanking the same way on every read.
	source := []byte(strings.ReplaceAll(src, "\x00", "\uFFFD"))
	doc := md.Parser().Parse(text.NewReader(source))
	r := mdReader{src: source, m: m}
	return canon(r.blocks(doc))
}

type mdReader struct {
	src []byte
	m   Mentions
}

func (r *mdReader) blocks(n ast.Node) []*block {
	var out []*block
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if b := r.block(c); b != nil {
			out = append(out, b)
		}
	}
	return out
}

func (r *mdReader) lines(n ast.Node) string {
	var b bytes.Buffer
	ls := n.Lines()
	for i := 0; i < ls.Len(); i++ {
		seg := ls.At(i)
		b.Write(seg.Value(r.src))
	}
	return b.String()
}

func (r *mdReader) block(n ast.Node) *block {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		return &block{kind: kParagraph, inlines: r.inlines(n)}
	case *ast.Heading:
		return &block{kind: kHeading, level: n.Level, inlines: r.inlines(n)}
	case *ast.ThematicBreak:
		return &block{kind: kRule}
	case *ast.FencedCodeBlock:
		lang := ""
		if n.Info != nil {
			lang = string(n.Language(r.src))
			lang = html.UnescapeString(string(util.UnescapePunctuations([]byte(lang))))
		}
		return &block{kind: kCode, lang: lang, code: strings.TrimSuffix(r.lines(n), "\n")}
	case *ast.CodeBlock:
		return &block{kind: kCode, code: strings.TrimRight(r.lines(n), "\n")}
	case *ast.Blockquote:
		return &block{kind: kQuote, children: r.blocks(n)}
	case *ast.List:
		b := &block{kind: kBullet}
		if n.IsOrdered() {
			b.kind, b.level = kOrdered, n.Start
		}
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			b.children = append(b.children, &block{kind: kItem, children: r.blocks(c)})
		}
		return b
	case *ast.HTMLBlock:
		t := r.lines(n)
		if n.HasClosure() {
			t += string(n.ClosureLine.Value(r.src))
		}
		return &block{kind: kParagraph, inlines: []inline{{kind: iText, text: strings.TrimRight(t, "\n")}}}
	case *east.Table:
		b := &block{kind: kTable}
		for row := n.FirstChild(); row != nil; row = row.NextSibling() {
			_, header := row.(*east.TableHeader)
			rb := &block{kind: kRow}
			for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
				rb.children = append(rb.children, &block{kind: kCell, header: header,
					children: []*block{{kind: kParagraph, inlines: r.inlines(cell)}}})
			}
			b.children = append(b.children, rb)
		}
		return b
	}
	return nil
}

var brRE = regexp.MustCompile(`(?i)^<br\s*/?>$`)

// decodeText resolves backslash escapes and entities the way goldmark's
// HTML renderer does, without the HTML escaping.
func decodeText(v []byte) string {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	ghtml.DefaultWriter.Write(w, v)
	w.Flush()
	return html.UnescapeString(b.String())
}

func (r *mdReader) inlines(n ast.Node) []inline {
	var out []inline
	r.walk(n, 0, "", &out)
	return splitMentions(normalize(out), r.m)
}

func (r *mdReader) walk(n ast.Node, marks mark, href string, out *[]inline) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			v := c.Segment.Value(r.src)
			t := string(v)
			if !c.IsRaw() {
				t = decodeText(v)
			}
			*out = append(*out, inline{kind: iText, text: t, marks: marks, href: href})
			if c.SoftLineBreak() || c.HardLineBreak() {
				*out = append(*out, inline{kind: iBreak})
			}
		case *ast.String:
			t := string(c.Value)
			if !c.IsRaw() && !c.IsCode() {
				t = decodeText(c.Value)
			}
			*out = append(*out, inline{kind: iText, text: t, marks: marks, href: href})
		case *ast.CodeSpan:
			var b strings.Builder
			for t := c.FirstChild(); t != nil; t = t.NextSibling() {
				switch t := t.(type) {
				case *ast.Text:
					b.Write(t.Segment.Value(r.src))
				case *ast.String:
					b.Write(t.Value)
				}
			}
			code := strings.ReplaceAll(b.String(), "\n", " ")
			*out = append(*out, inline{kind: iText, text: code, marks: marks | mCode, href: href})
		case *ast.Emphasis:
			m := mEm
			if c.Level >= 2 {
				m = mStrong
			}
			r.walk(c, marks|m, href, out)
		case *east.Strikethrough:
			r.walk(c, marks|mStrike, href, out)
		case *ast.Link:
			r.walk(c, marks, decodeText(c.Destination), out)
		case *ast.AutoLink:
			u := string(c.URL(r.src))
			h := u
			if c.AutoLinkType == ast.AutoLinkEmail && !strings.HasPrefix(strings.ToLower(u), "mailto:") {
				h = "mailto:" + u
			}
			*out = append(*out, inline{kind: iText, text: string(c.Label(r.src)), marks: marks, href: h})
		case *ast.Image:
			var alt []inline
			r.walk(c, 0, "", &alt)
			*out = append(*out, inline{kind: iImage, text: plainText(alt), href: decodeText(c.Destination)})
		case *ast.RawHTML:
			var b strings.Builder
			for i := 0; i < c.Segments.Len(); i++ {
				seg := c.Segments.At(i)
				b.Write(seg.Value(r.src))
			}
			if brRE.MatchString(b.String()) {
				*out = append(*out, inline{kind: iBreak})
				continue
			}
			*out = append(*out, inline{kind: iText, text: b.String(), marks: marks, href: href})
		default:
			r.walk(c, marks, href, out)
		}
	}
}

// canon brings a tree from any parser into the one shape the renderers
// and comparisons expect: no empty paragraphs, table cells holding one
// paragraph, rectangular tables, trimmed and merged inline runs.
func canon(bs []*block) []*block {
	var out []*block
	for _, b := range bs {
		if b == nil {
			continue
		}
		switch b.kind {
		case kParagraph, kHeading:
			if b.kind == kHeading {
				// A heading is one line in Markdown and wiki markup.
				for i := range b.inlines {
					if b.inlines[i].kind == iBreak {
						b.inlines[i] = inline{kind: iText, text: " "}
					}
				}
			}
			b.inlines = tidy(b.inlines)
			if b.kind == kParagraph && len(b.inlines) == 0 {
				continue
			}
		case kBullet, kOrdered:
			if b.kind == kOrdered && b.level < 0 {
				b.level = 0
			}
			for _, it := range b.children {
				it.kind = kItem
				it.children = canon(it.children)
			}
			if len(b.children) == 0 {
				continue
			}
		case kQuote:
			b.children = canon(b.children)
		case kTable:
			width := 0
			var rows []*block
			for _, row := range b.children {
				if row == nil || len(row.children) == 0 {
					continue
				}
				row.kind = kRow
				width = max(width, len(row.children))
				for _, cell := range row.children {
					cell.kind = kCell
					cell.children = []*block{{kind: kParagraph, inlines: tidy(flatten(cell.children))}}
				}
				rows = append(rows, row)
			}
			if len(rows) == 0 {
				continue
			}
			for _, row := range rows {
				allHeader := true
				for _, cell := range row.children {
					allHeader = allHeader && cell.header
				}
				for len(row.children) < width {
					row.children = append(row.children, &block{kind: kCell, header: allHeader, children: []*block{{kind: kParagraph}}})
				}
			}
			b.children = rows
		}
		out = append(out, b)
	}
	return out
}

// tidy merges runs, trims the block's edges and the white space around
// line breaks (no markup keeps it).
func tidy(in []inline) []inline {
	for i := range in {
		if strings.IndexByte(in[i].text, 0) >= 0 {
			in[i].text = strings.ReplaceAll(in[i].text, "\x00", "\uFFFD")
		}
	}
	in = normalize(in)
	// Two line breaks in a row would end the paragraph in Markdown.
	for i := 1; i < len(in); i++ {
		if in[i].kind == iBreak && in[i-1].kind == iBreak {
			in = append(in[:i:i], in[i+1:]...)
			i--
		}
	}
	in = edgeSpaces(in)
	for i := range in {
		if in[i].kind != iText {
			continue
		}
		if i > 0 && in[i-1].kind == iBreak {
			in[i].text = strings.TrimLeft(in[i].text, " \t")
		}
		if i+1 < len(in) && in[i+1].kind == iBreak {
			in[i].text = strings.TrimRight(in[i].text, " \t")
		}
	}
	return trimInlines(normalize(in))
}

// edgeSpaces gives white space at the edge of a format only the formats
// its neighbour shares: Markdown and wiki delimiters cannot touch white
// space, so " bold " in ADF is " **bold** " in Markdown.
func edgeSpaces(in []inline) []inline {
	var out []inline
	neighbour := func(i, step int) (inline, bool) {
		j := i + step
		if j < 0 || j >= len(in) || in[j].kind == iBreak {
			return inline{}, false
		}
		return in[j], true
	}
	shared := func(r inline, n inline, ok bool) inline {
		ws := inline{kind: iText}
		if ok && n.kind != iImage {
			ws.marks = r.marks & n.marks &^ mCode
			if n.href == r.href {
				ws.href = r.href
			}
		}
		return ws
	}
	for i, r := range in {
		if r.kind != iText || r.marks&mCode != 0 || r.marks == 0 && r.href == "" {
			out = append(out, r)
			continue
		}
		prev, okp := neighbour(i, -1)
		next, okn := neighbour(i, 1)
		core := strings.Trim(r.text, " \t")
		if core == "" {
			ws := shared(r, prev, okp)
			ws2 := shared(r, next, okn)
			ws.marks &= ws2.marks
			if ws.href != ws2.href {
				ws.href = ""
			}
			ws.text = r.text
			out = append(out, ws)
			continue
		}
		lead := r.text[:strings.Index(r.text, core)]
		trail := r.text[len(lead)+len(core):]
		if lead != "" {
			ws := shared(r, prev, okp)
			ws.text = lead
			out = append(out, ws)
		}
		c := r
		c.text = core
		out = append(out, c)
		if trail != "" {
			ws := shared(r, next, okn)
			ws.text = trail
			out = append(out, ws)
		}
	}
	return normalize(out)
}

// flatten turns blocks into inline runs separated by line breaks, for
// places that hold only inline content (table cells, headings in lists).
func flatten(bs []*block) []inline {
	var out []inline
	add := func(in []inline) {
		if len(in) == 0 {
			return
		}
		if len(out) > 0 {
			out = append(out, inline{kind: iBreak})
		}
		out = append(out, in...)
	}
	for _, b := range bs {
		switch b.kind {
		case kParagraph, kHeading:
			add(b.inlines)
		case kCode:
			for _, l := range strings.Split(b.code, "\n") {
				add([]inline{{kind: iText, text: l, marks: mCode}})
			}
		case kRule:
		default:
			add(flatten(b.children))
		}
	}
	return out
}

// renderMarkdown writes the tree as canonical Markdown.
func renderMarkdown(bs []*block, m Mentions) string {
	w := mdWriter{m: m}
	return w.blocks(bs, "\n\n")
}

type mdWriter struct {
	m     Mentions
	depth int // of verified's fallbacks
}

func (w *mdWriter) blocks(bs []*block, sep string) string {
	var parts []string
	var prev *block
	alt := false
	for _, b := range bs {
		// Two lists of the same kind in a row would merge into one:
		// alternate the marker ("-" and "*", "." and ")").
		if prev != nil && prev.kind == b.kind && (b.kind == kBullet || b.kind == kOrdered) {
			alt = !alt
		} else {
			alt = false
		}
		if s := w.block(b, alt); s != "" {
			parts = append(parts, s)
		}
		prev = b
	}
	return strings.Join(parts, sep)
}

func (w *mdWriter) block(b *block, alt bool) string {
	switch b.kind {
	case kParagraph, kHeading, kTable:
		return w.verified(b)
	case kCode:
		fence := strings.Repeat("`", max(3, longestRun(b.code, '`')+1))
		lang := strings.Map(func(r rune) rune {
			if r == '`' || r == ' ' || r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, b.lang)
		if b.code == "" {
			return fence + lang + "\n" + fence
		}
		return fence + lang + "\n" + b.code + "\n" + fence
	case kQuote:
		inner := w.blocks(b.children, "\n\n")
		if inner == "" {
			return ">"
		}
		return prefixLines(inner, "> ", ">")
	case kRule:
		return "---"
	case kBullet, kOrdered:
		return w.list(b, alt)
	}
	return ""
}

// list writes a bullet or ordered list, tight when every item is one
// paragraph (optionally followed by sub-lists that can interrupt it).
func (w *mdWriter) list(b *block, alt bool) string {
	tight := isTight(b)
	sep := "\n\n"
	if tight {
		sep = "\n"
	}
	var items []string
	for i, it := range b.children {
		marker := "-"
		if alt {
			marker = "*"
		}
		if b.kind == kOrdered {
			d := "."
			if alt {
				d = ")"
			}
			marker = strconv.Itoa(b.level+i) + d
		}
		content := w.blocks(it.children, sep)
		if content == "" {
			items = append(items, marker)
			continue
		}
		pad := strings.Repeat(" ", len(marker)+1)
		items = append(items, marker+" "+prefixLinesAfterFirst(content, pad))
	}
	return strings.Join(items, sep)
}

// isTight reports whether a list can be written without blank lines and
// read back the same: each item holds at most one paragraph, first, then
// only lists, and a sub-list after a paragraph must be able to interrupt
// it (a non-empty first item; ordered lists starting at 1).
func isTight(b *block) bool {
	for _, it := range b.children {
		for j, c := range it.children {
			switch c.kind {
			case kParagraph:
				if j != 0 {
					return false
				}
			case kBullet, kOrdered:
				if j > 0 && it.children[j-1].kind == kParagraph {
					if len(c.children[0].children) == 0 || c.kind == kOrdered && c.level != 1 {
						return false
					}
				}
			default:
				return false
			}
		}
	}
	return true
}

func prefixLines(s, prefix, emptyPrefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = emptyPrefix
		} else {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

func prefixLinesAfterFirst(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] != "" {
			lines[i] = prefix + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// Escaping levels, tried in order until the text reads back as written.
const (
	escLight  = iota // only what always changes meaning
	escMedium        // and every emphasis delimiter
	escHeavy         // and every ASCII punctuation character
	escEntity        // punctuation as character references (a "~" before "~~")
)

// verified renders a leaf block with the lightest escaping that parses
// back to the same block, so ordinary text keeps its spelling ("~5 days",
// "2 * 3", snake_case) and only text that would turn into markup is
// escaped.
//
// Some trees have no Markdown spelling (a "~" right before "~~", emphasis
// Markdown cannot nest that way). Then the text is written as the tree
// its medium spelling reads back as, so that the next round trip gives
// the same text.
func (w *mdWriter) verified(b *block) string {
	for level := escLight; level <= escEntity; level++ {
		s := w.leaf(b, level)
		if s == "" {
			return s
		}
		if got := parseMarkdown(s, w.m); len(got) == 1 && blockEqual(got[0], b) {
			return s
		}
	}
	s := w.leaf(b, escMedium)
	if w.depth >= 3 {
		return s
	}
	w.depth++
	defer func() { w.depth-- }()
	return w.blocks(parseMarkdown(s, w.m), "\n\n")
}

func (w *mdWriter) leaf(b *block, level int) string {
	switch b.kind {
	case kParagraph:
		return w.inlines(b.inlines, level, ctxParagraph)
	case kHeading:
		t := w.inlines(b.inlines, level, ctxHeading)
		if t == "" {
			return strings.Repeat("#", b.level)
		}
		return strings.Repeat("#", b.level) + " " + t
	case kTable:
		var rows []string
		for i, row := range b.children {
			var cells []string
			for _, c := range row.children {
				cells = append(cells, w.inlines(flatten(c.children), level, ctxTable))
			}
			rows = append(rows, "| "+strings.Join(cells, " | ")+" |")
			if i == 0 {
				rows = append(rows, "|"+strings.Repeat(" --- |", len(row.children)))
			}
		}
		return strings.Join(rows, "\n")
	}
	return ""
}

type context uint8

const (
	ctxParagraph context = iota
	ctxHeading
	ctxTable
)

// span is an inline format open in the writer: a mark, or a link.
type span struct {
	m    mark
	href string
}

func (s span) in(r inline) bool {
	if s.m == 0 {
		return r.href == s.href && r.href != ""
	}
	return r.marks&s.m != 0
}

// inlines writes runs with delimiters opened and closed as a stack:
// formats that last longer open first; white space at a format's edge
// is moved outside it, since Markdown delimiters cannot touch it.
func (w *mdWriter) inlines(runs []inline, level int, ctx context) string {
	var out strings.Builder
	var stack []span
	pending := ""
	closeFrom := func(k int) {
		for i := len(stack) - 1; i >= k; i-- {
			out.WriteString(closer(stack[i]))
		}
		stack = stack[:k]
	}
	wanted := func(r inline) []span {
		var s []span
		for _, m := range []mark{mStrike, mStrong, mEm} {
			if r.marks&m != 0 {
				s = append(s, span{m: m})
			}
		}
		if r.href != "" && r.kind != iImage {
			s = append(s, span{href: r.href})
		}
		return s
	}
	for i, r := range runs {
		if r.kind == iBreak {
			switch ctx {
			case ctxTable:
				pending += "<br>"
			case ctxHeading:
				pending += " "
			default:
				pending += "\n"
			}
			continue
		}
		lead, core, trail := "", r.text, ""
		if r.kind == iText && r.marks&mCode == 0 {
			t := strings.TrimLeft(core, " \t")
			lead, core = core[:len(core)-len(t)], t
			t = strings.TrimRight(core, " \t")
			trail, core = core[len(t):], t
		}
		if r.kind == iText && core == "" {
			// White space outside a format closes it.
			want := wanted(r)
			k := 0
			for k < len(stack) && containsSpan(want, stack[k]) {
				k++
			}
			if k < len(stack) {
				closeFrom(k)
				out.WriteString(pending)
				pending = ""
			}
			pending += lead + trail
			continue
		}
		if r.kind == iText && isAutolink(r, runs, i) {
			closeFrom(0)
			out.WriteString(pending + lead + "<" + strings.TrimPrefix(r.href, "mailto:") + ">")
			pending = trail
			continue
		}
		want := wanted(r)
		k := 0
		for k < len(stack) && containsSpan(want, stack[k]) {
			k++
		}
		closeFrom(k)
		out.WriteString(pending + lead)
		pending = ""
		// Open what is missing, the longest-lasting first.
		var open []span
		for _, s := range want {
			if !containsSpan(stack, s) {
				open = append(open, s)
			}
		}
		sortByReach(open, runs[i:])
		for _, s := range open {
			out.WriteString(opener(s))
			stack = append(stack, s)
		}
		switch r.kind {
		case iMention:
			name := r.id
			if w.m != nil {
				if n, ok := w.m.Name(r.id); ok {
					name = n
				} else if r.text != "" {
					name = strings.TrimPrefix(r.text, "@")
				}
			} else if r.text != "" {
				name = strings.TrimPrefix(r.text, "@")
			}
			out.WriteString("@" + name)
		case iImage:
			out.WriteString("![" + escapeText(r.text, max(level, escMedium), ctx, false, "") + "](" + destination(r.href) + ")")
		default:
			if r.marks&mCode != 0 {
				out.WriteString(codeSpan(core))
			} else {
				next := ""
				if trail == "" && i+1 < len(runs) {
					next = runs[i+1].text
				}
				out.WriteString(escapeText(core, level, ctx, atLineStart(&out), next))
			}
		}
		pending = trail
	}
	closeFrom(0)
	out.WriteString(pending)
	return strings.TrimRight(out.String(), " \t\n")
}

func opener(s span) string {
	switch s.m {
	case 0:
		return "["
	case mStrong:
		return "**"
	case mEm:
		return "*"
	case mStrike:
		return "~~"
	}
	return ""
}

func closer(s span) string {
	if s.m == 0 {
		return "](" + destination(s.href) + ")"
	}
	return opener(s)
}

// isAutolink reports whether run i is a whole link whose text is its
// URL, written <url>.
func isAutolink(r inline, runs []inline, i int) bool {
	if r.href == "" || r.marks != 0 {
		return false
	}
	if i > 0 && runs[i-1].href == r.href || i+1 < len(runs) && runs[i+1].href == r.href {
		return false
	}
	u := r.href
	if strings.HasPrefix(u, "mailto:") && r.text == strings.TrimPrefix(u, "mailto:") && emailRE.MatchString(r.text) {
		return true
	}
	return r.text == u && autolinkRE.MatchString(u)
}

var (
	autolinkRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>\x00-\x1f]*$`)
	emailRE    = regexp.MustCompile(`^[a-zA-Z0-9.!#$%&'*+/=?^_` + "`" + `{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
)

func containsSpan(ss []span, s span) bool {
	for _, x := range ss {
		if x.m == s.m && x.href == s.href {
			return true
		}
	}
	return false
}

// sortByReach orders spans by how many of the coming runs keep them,
// longest first, so the outer delimiters are the ones that stay open.
func sortByReach(ss []span, runs []inline) {
	reach := func(s span) int {
		n := 0
		for _, r := range runs {
			if r.kind == iBreak {
				continue
			}
			if !s.in(r) {
				break
			}
			n++
		}
		return n
	}
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && reach(ss[j]) > reach(ss[j-1]); j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
}

func atLineStart(b *strings.Builder) bool {
	s := b.String()
	return s == "" || strings.HasSuffix(s, "\n")
}

// codeSpan writes inline code with a fence longer than any backtick run
// inside, padded when the code starts or ends with a backtick or a space.
func codeSpan(t string) string {
	fence := strings.Repeat("`", longestRun(t, '`')+1)
	if strings.HasPrefix(t, "`") || strings.HasSuffix(t, "`") ||
		(strings.HasPrefix(t, " ") && strings.HasSuffix(t, " ") && strings.Trim(t, " ") != "") {
		return fence + " " + t + " " + fence
	}
	return fence + t + fence
}

// destination writes a link target, in <...> when it holds spaces or
// unbalanced parentheses.
func destination(u string) string {
	depth, plain := 0, u != ""
	for _, c := range u {
		switch {
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				plain = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '<' || c == '>' || c == '\\' || c < 0x20:
			plain = false
		}
	}
	if plain && depth == 0 {
		return u
	}
	r := strings.NewReplacer("\\", "\\\\", "<", "\\<", ">", "\\>", "\n", " ")
	return "<" + r.Replace(u) + ">"
}

var refDefRE = regexp.MustCompile(`^\[[^\]]*\]:`)

var entityRE = regexp.MustCompile(`^&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});`)

// escapeText escapes plain text for Markdown at the given level. lineStart
// says the text begins a line; next is the text that follows it.
func escapeText(s string, level int, ctx context, lineStart bool, next string) string {
	var b strings.Builder
	// A line that would start a block gets its marker escaped: the first
	// character, or the "." or ")" after an ordered list's number.
	blockAt := -1
	if lineStart && startsBlock(s) {
		blockAt = 0
		if s[0] >= '0' && s[0] <= '9' {
			blockAt = strings.IndexAny(s, ".)")
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		after := byte(0)
		if i+1 < len(s) {
			after = s[i+1]
		} else if next != "" {
			after = next[0]
		}
		if level == escEntity && isASCIIPunct(c) && !(ctx == ctxTable && c == '|') {
			b.WriteString("&#" + strconv.Itoa(int(c)) + ";")
			continue
		}
		esc := false
		switch {
		case level >= escHeavy && isASCIIPunct(c):
			esc = true
		case c == '\\':
			esc = after == 0 || isASCIIPunct(after)
		case c == '`':
			esc = true
		case c == '<':
			esc = after == '/' || after == '!' || after == '?' || isLetter(after)
		case c == ']':
			esc = after == '(' || after == '[' || after == ':'
		case c == '[' && i == 0 && lineStart:
			esc = refDefRE.MatchString(s) // a link reference definition
		case c == '&':
			esc = entityRE.MatchString(s[i:])
		case c == '|':
			esc = ctx == ctxTable
		case level == escMedium && (c == '*' || c == '_' || c == '~'):
			esc = true
		}
		if i == blockAt {
			esc = true
		}
		if !esc && ctx == ctxHeading && c == '#' && strings.TrimRight(s[i:], "#") == "" {
			esc = true // a closing sequence would be stripped
		}
		if esc {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

var orderedStartRE = regexp.MustCompile(`^[0-9]{1,9}[.)](?:[ \t]|$)`)

// startsBlock reports whether a line beginning with s would start a block
// other than a paragraph (its first character then needs escaping).
func startsBlock(s string) bool {
	if s == "" {
		return false
	}
	rest := s[1:]
	spaceOrEnd := rest == "" || rest[0] == ' ' || rest[0] == '\t'
	switch s[0] {
	case '#':
		return strings.TrimLeft(s, "#") == "" || len(s)-len(strings.TrimLeft(s, "#")) <= 6 && (strings.TrimLeft(s, "#")[0] == ' ' || strings.TrimLeft(s, "#")[0] == '\t')
	case '>':
		return true
	case '-', '+', '*':
		return spaceOrEnd || isBreakLine(s)
	case '=':
		return strings.Trim(s, "= \t") == ""
	case '_':
		return isBreakLine(s)
	case '`', '~':
		return strings.HasPrefix(s, strings.Repeat(s[:1], 3))
	case '|':
		return true
	}
	if s[0] >= '0' && s[0] <= '9' {
		return orderedStartRE.MatchString(s)
	}
	return false
}

// isBreakLine reports a thematic break (three or more of one of - * _).
func isBreakLine(s string) bool {
	c := s[0]
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case c:
			n++
		case ' ', '\t':
		default:
			return false
		}
	}
	return n >= 3
}

func isASCIIPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// blockEqual compares two trees.
func blockEqual(a, b *block) bool {
	if a.kind != b.kind || a.level != b.level || a.lang != b.lang || a.code != b.code || a.header != b.header ||
		len(a.inlines) != len(b.inlines) || len(a.children) != len(b.children) {
		return false
	}
	for i := range a.inlines {
		if !inlineEqual(a.inlines[i], b.inlines[i]) {
			return false
		}
	}
	for i := range a.children {
		if !blockEqual(a.children[i], b.children[i]) {
			return false
		}
	}
	return true
}

// inlineEqual compares runs; a mention's display text does not count (it
// is Jira's to choose).
func inlineEqual(a, b inline) bool {
	if a.kind == iMention && b.kind == iMention {
		a.text, b.text = "", ""
	}
	return a == b
}

func blocksEqual(a, b []*block) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !blockEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}
