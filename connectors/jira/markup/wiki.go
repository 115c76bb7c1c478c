package markup

import (
	"regexp"
	"strings"
	"sync/atomic"
)

// Jira wiki markup, as the Data Center REST API v2 reads and writes it
// (https://jira.atlassian.com/secure/WikiRendererHelpAction.jspa).

// --- tree to wiki ---

func renderWiki(bs []*block, m Mentions) string {
	w := wikiWriter{m: m}
	return w.blocks(bs)
}

type wikiWriter struct {
	m     Mentions
	depth int // of verified's fallbacks
}

func (w *wikiWriter) blocks(bs []*block) string {
	var parts []string
	for _, b := range bs {
		if s := w.block(b, false); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n\n")
}

func (w *wikiWriter) block(b *block, inQuote bool) string {
	switch b.kind {
	case kParagraph:
		return w.verified(b.inlines, wctxParagraph)
	case kHeading:
		return "h" + string(rune('0'+min(max(b.level, 1), 6))) + ". " + w.verified(b.inlines, wctxHeading)
	case kBullet, kOrdered:
		var lines []string
		w.list(b, "", &lines)
		return strings.Join(lines, "\n")
	case kCode:
		lang := wikiLangRE.FindString(b.lang)
		open, close := "{noformat}", "{noformat}"
		if lang != "" || strings.Contains(b.code, "{noformat}") {
			open, close = "{code}", "{code}"
			if lang != "" {
				open = "{code:" + lang + "}"
			}
		}
		return open + "\n" + b.code + "\n" + close
	case kQuote:
		if inQuote {
			// {quote} does not nest: the inner quote's blocks stay inline.
			var parts []string
			for _, c := range b.children {
				if s := w.block(c, true); s != "" {
					parts = append(parts, s)
				}
			}
			return strings.Join(parts, "\n\n")
		}
		var parts []string
		for _, c := range b.children {
			if s := w.block(c, true); s != "" {
				parts = append(parts, s)
			}
		}
		return "{quote}\n" + strings.Join(parts, "\n\n") + "\n{quote}"
	case kRule:
		return "----"
	case kTable:
		var rows []string
		for _, row := range b.children {
			var s strings.Builder
			for i, c := range row.children {
				sep := "|"
				if c.header {
					sep = "||"
				}
				s.WriteString(sep)
				t := w.verified(flatten(c.children), wctxTable)
				if t == "" {
					t = " " // "||" would read as a header separator
				}
				s.WriteString(t)
				if i == len(row.children)-1 {
					s.WriteString(sep)
				}
			}
			rows = append(rows, s.String())
		}
		return strings.Join(rows, "\n")
	}
	return ""
}

var wikiLangRE = regexp.MustCompile(`^[A-Za-z0-9_+#.\-]+`)

// list writes list lines with their marker paths ("*", "#*", …). Wiki
// list items hold one line: further blocks of an item are joined to it
// with line breaks, sub-lists follow with a longer path.
func (w *wikiWriter) list(b *block, path string, lines *[]string) {
	marker := "*"
	if b.kind == kOrdered {
		marker = "#"
	}
	p := path + marker
	for _, it := range b.children {
		var text []*block
		var subs []*block
		for _, c := range it.children {
			if c.kind == kBullet || c.kind == kOrdered {
				subs = append(subs, c)
			} else if len(subs) == 0 {
				text = append(text, c)
			} else {
				// Text after a sub-list cannot follow it in wiki: it
				// joins the item's line.
				text = append(text, c)
			}
		}
		line := w.verified(tidy(flatten(text)), wctxItem)
		if line == "" {
			*lines = append(*lines, p)
		} else {
			*lines = append(*lines, p+" "+line)
		}
		for _, s := range subs {
			w.list(s, p, lines)
		}
	}
}

type wctx uint8

const (
	wctxParagraph wctx = iota
	wctxHeading
	wctxItem
	wctxTable
)

// verified writes inline runs with the lightest escaping that reads back
// as the same runs.
// Runs with no wiki spelling are written as the runs their medium
// spelling reads back as, so the next round trip is stable.
func (w *wikiWriter) verified(in []inline, ctx wctx) string {
	for level := escLight; level <= escHeavy; level++ {
		s := w.inlines(in, level, ctx)
		if s == "" {
			return s
		}
		if wikiInlinesEqual(parseWikiInlines(s, w.m), in) {
			return s
		}
	}
	s := w.inlines(in, escMedium, ctx)
	if w.depth >= 3 {
		return s
	}
	w.depth++
	defer func() { w.depth-- }()
	return w.verified(tidy(parseWikiInlines(s, w.m)), ctx)
}

func wikiInlinesEqual(got, want []inline) bool {
	got, want = tidy(got), tidy(want)
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !inlineEqual(got[i], want[i]) {
			return false
		}
	}
	return true
}

type wspan struct {
	m      mark
	href   string
	braced bool
}

func (w *wikiWriter) inlines(runs []inline, level int, ctx wctx) string {
	var out strings.Builder
	var stack []wspan
	pending := ""
	closeFrom := func(k int) {
		for i := len(stack) - 1; i >= k; i-- {
			out.WriteString(wikiCloser(stack[i]))
		}
		stack = stack[:k]
	}
	has := func(r inline, s wspan) bool {
		if s.m == 0 {
			return r.href == s.href
		}
		return r.marks&s.m != 0
	}
	for i, r := range runs {
		if r.kind == iBreak {
			// Formats do not span lines in wiki markup: close them.
			closeFrom(0)
			out.WriteString(pending)
			pending = ""
			switch ctx {
			case wctxParagraph:
				pending += "\n"
			case wctxHeading:
				pending += " "
			default:
				pending += "\\\\"
			}
			continue
		}
		lead, core, trail := "", r.text, ""
		if r.kind == iText {
			t := strings.TrimLeft(core, " \t")
			lead, core = core[:len(core)-len(t)], t
			t = strings.TrimRight(core, " \t")
			trail, core = core[len(t):], t
		}
		if r.kind == iText && core == "" {
			// White space outside a format closes it.
			k := 0
			for k < len(stack) && has(r, stack[k]) {
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
		var want []wspan
		if r.href != "" && r.kind == iText {
			want = append(want, wspan{href: r.href})
		}
		codeMark := r.marks & mCode
		for _, m := range []mark{mStrike, mStrong, mEm} {
			if r.marks&m != 0 {
				want = append(want, wspan{m: m})
			}
		}
		k := 0
		for k < len(stack) && containsWspan(want, stack[k]) {
			k++
		}
		closeFrom(k)
		out.WriteString(pending + lead)
		pending = ""
		var open []wspan
		for _, s := range want {
			if !containsWspan(stack, s) {
				open = append(open, s)
			}
		}
		// The longest-lasting format opens first.
		reach := func(s wspan) int {
			n := 0
			for _, x := range runs[i:] {
				if x.kind == iBreak {
					continue
				}
				if !has(x, s) {
					break
				}
				n++
			}
			return n
		}
		for a := 1; a < len(open); a++ {
			for b := a; b > 0 && reach(open[b]) > reach(open[b-1]); b-- {
				open[b], open[b-1] = open[b-1], open[b]
			}
		}
		for _, s := range open {
			if s.m != 0 {
				// Next to a letter or digit a delimiter does not count:
				// Jira's braced form {*}…{*} works inside words.
				end := i + reach(s)
				after := byte(0)
				if end < len(runs) && runs[end].kind == iText && runs[end].text != "" {
					after = runs[end].text[0]
				}
				prev := lastByte(&out)
				s.braced = isWordByte(prev) || isWordByte(after)
			}
			out.WriteString(wikiOpener(s))
			stack = append(stack, s)
		}
		switch r.kind {
		case iMention:
			out.WriteString("[~" + r.id + "]")
		case iImage:
			alt := ""
			if r.text != "" && !strings.ContainsAny(r.text, "!|,=\n") {
				alt = "|alt=" + r.text
			}
			out.WriteString("!" + r.href + alt + "!")
		default:
			if codeMark != 0 {
				out.WriteString("{{" + escapeWiki(core, max(level, escMedium), ctx, false, true, r.href != "") + "}}")
			} else if r.href != "" && r.marks == 0 && r.text == r.href && len(stack) > 0 && stack[len(stack)-1].m == 0 && reach(wspan{href: r.href}) == 1 && autolinkRE.MatchString(r.href) && !strings.ContainsAny(r.href, "|]") {
				// A link whose text is its URL: [url].
				stack[len(stack)-1].m = autoWiki
			} else {
				out.WriteString(escapeWiki(core, level, ctx, atLineStart(&out) && ctx == wctxParagraph, false, r.href != ""))
			}
		}
		pending = trail
	}
	closeFrom(0)
	out.WriteString(pending)
	return strings.TrimRight(out.String(), " \t\n")
}

// autoWiki marks a link span written as [url].
const autoWiki mark = 1 << 7

func containsWspan(ss []wspan, s wspan) bool {
	for _, x := range ss {
		xm := x.m
		if xm == autoWiki {
			xm = 0
		}
		if xm == s.m && x.href == s.href {
			return true
		}
	}
	return false
}

func lastByte(b *strings.Builder) byte {
	s := b.String()
	if s == "" {
		return 0
	}
	return s[len(s)-1]
}

func wikiOpener(s wspan) string {
	d := ""
	switch s.m {
	case 0, autoWiki:
		return "["
	case mStrong:
		d = "*"
	case mEm:
		d = "_"
	case mStrike:
		d = "-"
	}
	if s.braced {
		return "{" + d + "}"
	}
	return d
}

func wikiCloser(s wspan) string {
	switch s.m {
	case 0:
		return "|" + s.href + "]"
	case autoWiki:
		return s.href + "]"
	}
	return wikiOpener(s)
}

const wikiSpecial = `*_-+^~?{}[]|!\#`

// escapeWiki escapes text for wiki markup: at the light level only what
// always changes meaning, at the medium level also every character that
// could open or close a format, at the heavy level every special one.
func escapeWiki(s string, level int, ctx wctx, lineStart, code, link bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		prev, next := byte(0), byte(0)
		if i > 0 {
			prev = s[i-1]
		}
		if i+1 < len(s) {
			next = s[i+1]
		}
		if c == '\\' {
			if next == 0 || isASCIIPunct(next) {
				// "\\" is a line break and "\*" an escape: a backslash
				// that must stay one is written as an entity.
				b.WriteString("&#92;")
				continue
			}
			b.WriteByte(c)
			continue
		}
		esc := false
		switch {
		case level == escHeavy && (strings.IndexByte(wikiSpecial, c) >= 0 || c == '&' || c == '.'):
			esc = true
		case c == '{' || c == '[':
			esc = true
		case c == '}':
			esc = code || next == '}'
		case c == '&':
			esc = strings.HasPrefix(s[i:], "&#92;")
		case c == '|':
			esc = ctx == wctxTable || link
		case c == ']':
			esc = link
		case c == '!':
			esc = next != 0 && next != ' ' && next != '\t'
		case level >= escMedium && strings.IndexByte("*_-+^~", c) >= 0:
			open := !isWordByte(prev) && next != 0 && next != ' ' && next != '\t'
			close := prev != 0 && prev != ' ' && prev != '\t' && !isWordByte(next)
			esc = open || close
		case level >= escMedium && c == '?':
			esc = next == '?' || prev == '?'
		}
		if !esc && lineStart && (i == 0 && !wikiHeadingRE.MatchString(s) && !strings.HasPrefix(s, "bq.") ||
			c == '.' && i == strings.IndexByte(s, '.')) {
			esc = startsWikiBlock(s)
		}
		if esc {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

var (
	wikiHeadingRE = regexp.MustCompile(`^h[1-6]\.(?:\s|$)`)
	wikiListRE    = regexp.MustCompile(`^(?:[*#]+|-)(?:\s|$)`)
)

// startsWikiBlock reports whether a line beginning with s would start a
// block (a list, a heading, a quote, a table or a rule).
func startsWikiBlock(s string) bool {
	switch {
	case wikiListRE.MatchString(s), wikiHeadingRE.MatchString(s), strings.HasPrefix(s, "bq. "),
		strings.HasPrefix(s, "|"), strings.HasPrefix(s, "----"), strings.HasPrefix(s, "bq.") && len(s) == 3:
		return true
	}
	return false
}

// --- wiki to tree ---

func parseWiki(src string, m Mentions) []*block {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	p := wikiParser{m: m}
	return canon(p.blocks(strings.Split(src, "\n")))
}

type wikiParser struct {
	m     Mentions
	depth int
}

var (
	codeOpenRE  = regexp.MustCompile(`^\{(code|noformat)(?::([^}]*))?\}`)
	quoteOpenRE = regexp.MustCompile(`^\{(quote|panel)(?::[^}]*)?\}`)
	tableRowRE  = regexp.MustCompile(`^\|`)
)

func (p *wikiParser) blocks(lines []string) []*block {
	p.depth++
	defer func() { p.depth-- }()
	var out []*block
	for i := 0; i < len(lines); {
		t := strings.TrimSpace(lines[i])
		switch {
		case t == "":
			i++
		case wikiHeadingRE.MatchString(t):
			out = append(out, &block{kind: kHeading, level: int(t[1] - '0'), inlines: p.inlines(strings.TrimSpace(t[3:]))})
			i++
		case strings.HasPrefix(t, "bq. ") || t == "bq.":
			out = append(out, &block{kind: kQuote, children: []*block{{kind: kParagraph, inlines: p.inlines(strings.TrimSpace(t[3:]))}}})
			i++
		case codeOpenRE.MatchString(t):
			m := codeOpenRE.FindStringSubmatch(t)
			code, next := macroBody(lines, i, m[0], "{"+m[1]+"}")
			lang := ""
			if m[1] == "code" {
				lang = codeLang(m[2])
			}
			out = append(out, &block{kind: kCode, lang: lang, code: code})
			i = next
		case quoteOpenRE.MatchString(t) && p.depth < 50:
			m := quoteOpenRE.FindStringSubmatch(t)
			body, next := macroBody(lines, i, m[0], "{"+m[1]+"}")
			out = append(out, &block{kind: kQuote, children: p.blocks(strings.Split(body, "\n"))})
			i = next
		case isWikiRule(t):
			out = append(out, &block{kind: kRule})
			i++
		case wikiListRE.MatchString(t):
			var items []string
			for i < len(lines) {
				l := strings.TrimSpace(lines[i])
				if l == "" {
					break
				}
				if wikiListRE.MatchString(l) {
					items = append(items, l)
				} else if p.startsBlock(l) {
					break
				} else {
					// A line under an item continues it.
					items[len(items)-1] += "\\\\" + l
				}
				i++
			}
			out = append(out, p.list(items)...)
		case tableRowRE.MatchString(t):
			tb := &block{kind: kTable}
			for i < len(lines) && tableRowRE.MatchString(strings.TrimSpace(lines[i])) {
				tb.children = append(tb.children, p.row(strings.TrimSpace(lines[i])))
				i++
			}
			out = append(out, tb)
		default:
			var para []string
			for i < len(lines) {
				l := strings.TrimSpace(lines[i])
				if l == "" || len(para) > 0 && p.startsBlock(l) {
					break
				}
				para = append(para, l)
				i++
			}
			out = append(out, &block{kind: kParagraph, inlines: p.inlines(strings.Join(para, "\n"))})
		}
	}
	return out
}

func (p *wikiParser) startsBlock(l string) bool {
	return wikiHeadingRE.MatchString(l) || strings.HasPrefix(l, "bq. ") || codeOpenRE.MatchString(l) ||
		quoteOpenRE.MatchString(l) || isWikiRule(l) || wikiListRE.MatchString(l) || tableRowRE.MatchString(l)
}

func isWikiRule(t string) bool {
	return len(t) >= 4 && strings.Trim(t, "-") == ""
}

// codeLang reads the language of {code:go} or {code:language=go|title=x}.
func codeLang(params string) string {
	for _, p := range strings.Split(params, "|") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return strings.TrimSpace(k)
		}
		if strings.TrimSpace(k) == "language" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// macroBody returns the text between a block macro's opening tag (on line
// i) and its closing tag, and the index of the line after it. A missing
// closing tag runs to the end.
func macroBody(lines []string, i int, open, close string) (string, int) {
	first := strings.TrimSpace(lines[i])
	rest := strings.TrimPrefix(first, open)
	var body []string
	if j := strings.Index(rest, close); j >= 0 {
		return rest[:j], i + 1
	}
	if rest != "" {
		body = append(body, rest)
	}
	for k := i + 1; k < len(lines); k++ {
		l := lines[k]
		if j := strings.Index(l, close); j >= 0 {
			if before := l[:j]; strings.TrimSpace(before) != "" {
				body = append(body, before)
			}
			return strings.Join(body, "\n"), k + 1
		}
		body = append(body, l)
	}
	return strings.Join(body, "\n"), len(lines)
}

// list builds nested lists from item lines ("*", "#*", "-").
func (p *wikiParser) list(items []string) []*block {
	var roots []*block
	type level struct {
		b *block
		c byte
	}
	var stack []level
	for _, l := range items {
		n := 0
		for n < len(l) && (l[n] == '*' || l[n] == '#' || l[n] == '-' && n == 0) {
			n++
		}
		path, text := l[:n], strings.TrimSpace(l[n:])
		k := 0
		for k < len(stack) && k < len(path) && stack[k].c == normMarker(path[k]) {
			k++
		}
		if k == len(path) && k == len(stack) || k < len(path) {
			stack = stack[:k]
		} else {
			stack = stack[:len(path)]
		}
		for len(stack) < len(path) {
			c := normMarker(path[len(stack)])
			b := &block{kind: kBullet}
			if c == '#' {
				b.kind, b.level = kOrdered, 1
			}
			if len(stack) == 0 {
				roots = append(roots, b)
			} else {
				parent := stack[len(stack)-1].b
				if len(parent.children) == 0 {
					parent.children = append(parent.children, &block{kind: kItem})
				}
				it := parent.children[len(parent.children)-1]
				it.children = append(it.children, b)
			}
			stack = append(stack, level{b, c})
		}
		it := &block{kind: kItem}
		if text != "" {
			it.children = []*block{{kind: kParagraph, inlines: p.inlines(text)}}
		}
		top := stack[len(stack)-1].b
		top.children = append(top.children, it)
	}
	return roots
}

func normMarker(c byte) byte {
	if c == '-' {
		return '*'
	}
	return c
}

// row reads one table line: "||" starts a header cell, "|" a cell.
func (p *wikiParser) row(l string) *block {
	row := &block{kind: kRow}
	i := 0
	for i < len(l) {
		header := false
		switch {
		case strings.HasPrefix(l[i:], "||"):
			header, i = true, i+2
		case l[i] == '|':
			i++
		}
		j := cellEnd(l, i)
		content := l[i:j]
		i = j
		if j == len(l) && strings.TrimSpace(content) == "" {
			break
		}
		row.children = append(row.children, &block{kind: kCell, header: header,
			children: []*block{{kind: kParagraph, inlines: p.inlines(strings.TrimSpace(content))}}})
	}
	return row
}

// cellEnd finds the "|" that ends a cell starting at i, skipping escapes
// and links ([text|url] holds a bar).
func cellEnd(l string, i int) int {
	depth := 0
	for ; i < len(l); i++ {
		switch l[i] {
		case '\\':
			i++
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case '|':
			if depth == 0 {
				return i
			}
		}
	}
	return len(l)
}

func (p *wikiParser) inlines(s string) []inline {
	return normalize(parseWikiSpan(s, 0, "", p.m, 0))
}

// parseWikiInlines reads inline wiki text (used to verify rendering).
func parseWikiInlines(s string, m Mentions) []inline {
	return normalize(parseWikiSpan(s, 0, "", m, 0))
}

var wikiDelims = []string{"*", "_", "-", "+", "^", "~", "??"}

func delimMark(d string) mark {
	switch d {
	case "*":
		return mStrong
	case "_":
		return mEm
	case "-":
		return mStrike
	}
	return 0 // underline, sup, sub, citation: their text only
}

func parseWikiSpan(s string, marks mark, href string, m Mentions, depth int) []inline {
	var out []inline
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			out = append(out, inline{kind: iText, text: text.String(), marks: marks, href: href})
			text.Reset()
		}
	}
	if depth > 20 {
		return []inline{{kind: iText, text: s, marks: marks, href: href}}
	}
	sc := newScanner(s)
	defer sc.done()
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '\\':
			flush()
			out = append(out, inline{kind: iBreak})
			i += 2
			continue
		case c == '\n':
			flush()
			out = append(out, inline{kind: iBreak})
			i++
			continue
		case c == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]):
			text.WriteByte(s[i+1])
			i += 2
			continue
		case strings.HasPrefix(s[i:], "&#92;"):
			text.WriteByte('\\')
			i += 5
			continue
		case strings.HasPrefix(s[i:], "{{"):
			if j := sc.unescaped(i+2, "}}"); j >= 0 {
				flush()
				out = append(out, inline{kind: iText, text: unescapeWiki(s[i+2 : j]), marks: marks | mCode, href: href})
				i = j + 2
				continue
			}
		case c == '{':
			if d, ok := bracedDelim(s[i:]); ok {
				tag := "{" + d + "}"
				if j := sc.unescaped(i+len(tag), tag); j > i+len(tag) {
					flush()
					out = append(out, parseWikiSpan(s[i+len(tag):j], marks|delimMark(d), href, m, depth+1)...)
					i = j + len(tag)
					continue
				}
			}
			if tag := colorTagRE.FindString(s[i:]); tag != "" {
				i += len(tag) // colours are dropped, their text kept
				continue
			}
		case c == '[':
			if j := sc.unescaped(i+1, "]"); j > i {
				inner := s[i+1 : j]
				if strings.HasPrefix(inner, "~") && len(inner) > 1 && !strings.ContainsAny(inner, " \t\n") {
					flush()
					out = append(out, inline{kind: iMention, id: inner[1:], marks: marks &^ mCode})
					i = j + 1
					continue
				}
				// The first unescaped | of inner: the walk from i+1 over s is
				// the walk over inner, up to the end of inner.
				if k := sc.unescaped(i+1, "|") - (i + 1); k >= 0 && k < len(inner) {
					u := inner[k+1:]
					if l := strings.IndexByte(u, '|'); l >= 0 {
						u = u[:l]
					}
					u = strings.TrimSpace(u)
					if u != "" {
						flush()
						out = append(out, parseWikiSpan(inner[:k], marks, u, m, depth+1)...)
						i = j + 1
						continue
					}
				} else if u := strings.TrimSpace(inner); autolinkRE.MatchString(u) && strings.Contains(u, ":") {
					flush()
					out = append(out, inline{kind: iText, text: u, marks: marks, href: u})
					i = j + 1
					continue
				}
			}
		case c == '!':
			if j := strings.IndexByte(s[i+1:], '!'); j > 0 {
				inner := s[i+1 : i+1+j]
				src, params, _ := strings.Cut(inner, "|")
				if src != "" && !strings.ContainsAny(src, " \t\n") {
					alt := ""
					for _, p := range strings.Split(params, ",") {
						if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && k == "alt" {
							alt = strings.Trim(v, `"`)
						}
					}
					flush()
					out = append(out, inline{kind: iImage, href: src, text: alt})
					i += j + 2
					continue
				}
			}
		default:
			if d := delimAt(s, i); d != "" && canOpen(s, i, len(d)) {
				if j := sc.closer(i+len(d), d); j > i+len(d) {
					flush()
					out = append(out, parseWikiSpan(s[i+len(d):j], marks|delimMark(d), href, m, depth+1)...)
					i = j + len(d)
					continue
				}
			}
		}
		text.WriteByte(c)
		i++
	}
	flush()
	return out
}

var colorTagRE = regexp.MustCompile(`^\{color(?::[^}]*)?\}`)

func delimAt(s string, i int) string {
	for _, d := range wikiDelims {
		if strings.HasPrefix(s[i:], d) {
			return d
		}
	}
	return ""
}

func bracedDelim(s string) (string, bool) {
	for _, d := range wikiDelims {
		if strings.HasPrefix(s, "{"+d+"}") {
			return d, true
		}
	}
	return "", false
}

// canOpen: a delimiter opens when it does not follow a letter or digit
// and a non-space follows it.
func canOpen(s string, i, n int) bool {
	if i > 0 && isWordByte(s[i-1]) {
		return false
	}
	return i+n < len(s) && !isSpaceByte(s[i+n])
}

// canClose: a delimiter closes after a non-space, before anything but a
// letter or digit.
func canClose(s string, j, n int) bool {
	if j == 0 || isSpaceByte(s[j-1]) {
		return false
	}
	return j+n >= len(s) || !isWordByte(s[j+n])
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// scanSteps counts the positions the inline scanners visit, so a test can
// check that reading a body takes work in proportion to its length.
var scanSteps atomic.Int64

// scanner finds closers in one span of inline wiki text. Each search is a
// walk from a position that skips escapes, and (for closers of emphasis)
// code and links, until it finds what it looks for, a line end or the end
// of the text. The walk from a position always ends the same way, so its
// answer is remembered for every position it passed: a text full of
// markers that never close (a pasted log) is read in time linear in its
// length, where each opener used to walk the rest of the line again.
type scanner struct {
	s    string
	memo map[string][]int32 // per search: 0 unknown, 1 none, else position+2
	path []int
	n    int64 // positions walked, for scanSteps
}

func newScanner(s string) *scanner { return &scanner{s: s} }

func (sc *scanner) done() { scanSteps.Add(sc.n) }

func (sc *scanner) memoOf(key string) []int32 {
	m, ok := sc.memo[key]
	if !ok {
		if sc.memo == nil {
			sc.memo = map[string][]int32{}
		}
		m = make([]int32, len(sc.s))
		sc.memo[key] = m
	}
	return m
}

// shortWalk is how far a search goes before it remembers what it passes:
// most closers are near their opener, and a short text needs no memory.
const shortWalk = 64

// walk runs a search from position from: step returns the position the
// search continues at, or a result (found >= 0, or -1 for none) with
// ok. Past the first shortWalk positions, every position passed is given
// the result, and a search reaching one returns its result.
func (sc *scanner) walk(key string, from int, step func(k int) (next, result int, ok bool)) int {
	k := from
	if _, ok := sc.memo[key]; !ok {
		for range shortWalk {
			if k >= len(sc.s) {
				return -1
			}
			sc.n++
			next, r, ok := step(k)
			if ok {
				return r
			}
			k = next
		}
	}
	memo := sc.memoOf(key)
	path := sc.path[:0]
	res := -1
	for k < len(sc.s) {
		if m := memo[k]; m != 0 {
			res = int(m) - 2
			break
		}
		sc.n++
		path = append(path, k)
		next, r, ok := step(k)
		if ok {
			res = r
			break
		}
		k = next
	}
	for _, p := range path {
		memo[p] = int32(res + 2)
	}
	sc.path = path
	return res
}

// unescaped finds sub from index from, skipping backslash escapes, or -1.
func (sc *scanner) unescaped(from int, sub string) int {
	s := sc.s
	return sc.walk("u"+sub, from, func(k int) (int, int, bool) {
		if s[k] == '\\' {
			return k + 2, 0, false
		}
		if strings.HasPrefix(s[k:], sub) {
			return 0, k, true
		}
		return k + 1, 0, false
	})
}

// closer finds the delimiter d closing a span opened before from,
// skipping escapes, code and links, within the line; -1 when none does.
func (sc *scanner) closer(from int, d string) int {
	s := sc.s
	return sc.walk("c"+d, from, func(k int) (int, int, bool) {
		switch {
		case s[k] == '\\':
			return k + 2, 0, false
		case s[k] == '\n':
			return 0, -1, true
		case strings.HasPrefix(s[k:], "{{"):
			if e := sc.unescaped(k+2, "}}"); e >= 0 {
				return e + 2, 0, false
			}
		case s[k] == '[':
			if e := sc.unescaped(k+1, "]"); e >= 0 {
				return e + 1, 0, false
			}
		case strings.HasPrefix(s[k:], d) && canClose(s, k, len(d)):
			return 0, k, true
		}
		return k + 1, 0, false
	})
}

func unescapeWiki(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]) {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if strings.HasPrefix(s[i:], "&#92;") {
			b.WriteByte('\\')
			i += 4
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// wikiMentionIDs lists the user names a wiki text mentions ([~name]).
func wikiMentionIDs(s string) []string {
	var ids []string
	for _, m := range wikiMentionRE.FindAllStringSubmatch(s, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

var wikiMentionRE = regexp.MustCompile(`\[~([^\]\s]+)\]`)
