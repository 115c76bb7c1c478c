package markup

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// adfNode is one node of an Atlassian Document Format document
// (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).
type adfNode struct {
	Type    string         `json:"type"`
	Version int            `json:"version,omitempty"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Content []*adfNode     `json:"content,omitempty"`
	Text    string         `json:"text,omitempty"`
	Marks   []adfMark      `json:"marks,omitempty"`
}

type adfMark struct {
	Type  string         `json:"type"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

// --- tree to ADF ---

// renderADF writes the tree as an ADF document.
func renderADF(bs []*block) []byte {
	content := adfBlocks(bs, blockAllowed)
	if content == nil {
		content = []*adfNode{}
	}
	doc := struct {
		Type    string     `json:"type"`
		Version int        `json:"version"`
		Content []*adfNode `json:"content"`
	}{"doc", 1, content}
	b, err := json.Marshal(doc)
	if err != nil {
		// Only strings, numbers and maps of them are marshalled: this
		// cannot fail, but an empty document is the safe answer anyway.
		return []byte(`{"type":"doc","version":1,"content":[]}`)
	}
	return b
}

// Which blocks a container holds in ADF. Anything else is turned into
// what it may hold (a heading into a bold paragraph, a table into rows
// of text).
type allowed uint8

const (
	blockAllowed allowed = iota // the document, table cells, panels
	itemAllowed                 // listItem: paragraph, lists, code, media
	quoteAllowed                // blockquote: paragraph, lists, code, media
)

func adfBlocks(bs []*block, in allowed) []*adfNode {
	var out []*adfNode
	for _, b := range bs {
		out = append(out, adfBlock(b, in)...)
	}
	return out
}

func adfBlock(b *block, in allowed) []*adfNode {
	switch b.kind {
	case kParagraph:
		if len(b.inlines) == 1 && b.inlines[0].kind == iImage {
			im := b.inlines[0]
			attrs := map[string]any{"type": "external", "url": im.href}
			if im.text != "" {
				attrs["alt"] = im.text
			}
			return []*adfNode{{Type: "mediaSingle", Attrs: map[string]any{"layout": "center"},
				Content: []*adfNode{{Type: "media", Attrs: attrs}}}}
		}
		return []*adfNode{{Type: "paragraph", Content: adfInlines(b.inlines)}}
	case kHeading:
		if in != blockAllowed {
			return []*adfNode{{Type: "paragraph", Content: adfInlines(withMark(b.inlines, mStrong))}}
		}
		return []*adfNode{{Type: "heading", Attrs: map[string]any{"level": min(max(b.level, 1), 6)}, Content: adfInlines(b.inlines)}}
	case kBullet, kOrdered:
		n := &adfNode{Type: "bulletList"}
		if b.kind == kOrdered {
			n.Type = "orderedList"
			if b.level != 1 {
				n.Attrs = map[string]any{"order": b.level}
			}
		}
		for _, it := range b.children {
			c := adfBlocks(it.children, itemAllowed)
			// A list item starts with a paragraph (or code or media).
			if len(c) == 0 || c[0].Type != "paragraph" && c[0].Type != "codeBlock" && c[0].Type != "mediaSingle" {
				c = append([]*adfNode{{Type: "paragraph"}}, c...)
			}
			n.Content = append(n.Content, &adfNode{Type: "listItem", Content: c})
		}
		return []*adfNode{n}
	case kCode:
		n := &adfNode{Type: "codeBlock"}
		if b.lang != "" {
			n.Attrs = map[string]any{"language": b.lang}
		}
		if b.code != "" {
			n.Content = []*adfNode{{Type: "text", Text: b.code}}
		}
		return []*adfNode{n}
	case kQuote:
		if in != blockAllowed {
			return adfBlocks(b.children, in)
		}
		c := adfBlocks(b.children, quoteAllowed)
		if len(c) == 0 {
			c = []*adfNode{{Type: "paragraph"}}
		}
		return []*adfNode{{Type: "blockquote", Content: c}}
	case kRule:
		if in != blockAllowed {
			return nil
		}
		return []*adfNode{{Type: "rule"}}
	case kTable:
		if in != blockAllowed {
			var out []*adfNode
			for _, row := range b.children {
				var cells []inline
				for i, c := range row.children {
					if i > 0 {
						cells = append(cells, inline{kind: iText, text: " | "})
					}
					cells = append(cells, flatten(c.children)...)
				}
				out = append(out, &adfNode{Type: "paragraph", Content: adfInlines(tidy(cells))})
			}
			return out
		}
		t := &adfNode{Type: "table", Attrs: map[string]any{"isNumberColumnEnabled": false, "layout": "default"}}
		for _, row := range b.children {
			r := &adfNode{Type: "tableRow"}
			for _, c := range row.children {
				typ := "tableCell"
				if c.header {
					typ = "tableHeader"
				}
				cc := adfBlocks(c.children, blockAllowed)
				if len(cc) == 0 {
					cc = []*adfNode{{Type: "paragraph"}}
				}
				r.Content = append(r.Content, &adfNode{Type: typ, Attrs: map[string]any{}, Content: cc})
			}
			t.Content = append(t.Content, r)
		}
		return []*adfNode{t}
	}
	return nil
}

func withMark(in []inline, m mark) []inline {
	out := make([]inline, len(in))
	for i, r := range in {
		if r.kind == iText && r.marks&mCode == 0 {
			r.marks |= m
		}
		out[i] = r
	}
	return out
}

func adfInlines(in []inline) []*adfNode {
	var out []*adfNode
	for _, r := range in {
		switch r.kind {
		case iBreak:
			out = append(out, &adfNode{Type: "hardBreak"})
		case iMention:
			out = append(out, &adfNode{Type: "mention", Attrs: map[string]any{"id": r.id, "text": r.text}})
		case iImage:
			// ADF has no inline images: the alt text links to the image.
			t := r.text
			if t == "" {
				t = r.href
			}
			out = append(out, &adfNode{Type: "text", Text: t, Marks: []adfMark{{Type: "link", Attrs: map[string]any{"href": r.href}}}})
		case iText:
			if r.text == "" {
				continue
			}
			n := &adfNode{Type: "text", Text: r.text}
			// Jira refuses code combined with any mark but link.
			if r.marks&mCode != 0 {
				n.Marks = append(n.Marks, adfMark{Type: "code"})
			} else {
				if r.marks&mStrong != 0 {
					n.Marks = append(n.Marks, adfMark{Type: "strong"})
				}
				if r.marks&mEm != 0 {
					n.Marks = append(n.Marks, adfMark{Type: "em"})
				}
				if r.marks&mStrike != 0 {
					n.Marks = append(n.Marks, adfMark{Type: "strike"})
				}
			}
			if r.href != "" {
				n.Marks = append(n.Marks, adfMark{Type: "link", Attrs: map[string]any{"href": r.href}})
			}
			out = append(out, n)
		}
	}
	return out
}

// --- ADF to tree ---

// parseADF reads an ADF document. Anything it does not know is kept as
// text; JSON that is not a document is an error.
func parseADF(raw []byte) ([]*block, error) {
	var doc adfNode
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return canon(adfToBlocks(doc.Content)), nil
}

func adfToBlocks(ns []*adfNode) []*block {
	var out []*block
	var para []inline // inline nodes found at block level
	flush := func() {
		if len(para) > 0 {
			out = append(out, &block{kind: kParagraph, inlines: para})
			para = nil
		}
	}
	for _, n := range ns {
		if n == nil {
			continue
		}
		if isADFInline(n.Type) {
			para = append(para, adfToInlines([]*adfNode{n}, 0, "")...)
			continue
		}
		flush()
		out = append(out, adfToBlock(n)...)
	}
	flush()
	return out
}

func isADFInline(t string) bool {
	switch t {
	case "text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status", "mediaInline", "placeholder", "inlineExtension":
		return true
	}
	return false
}

func adfToBlock(n *adfNode) []*block {
	switch n.Type {
	case "paragraph":
		return []*block{{kind: kParagraph, inlines: adfToInlines(n.Content, 0, "")}}
	case "heading":
		return []*block{{kind: kHeading, level: min(max(attrInt(n.Attrs, "level", 1), 1), 6), inlines: adfToInlines(n.Content, 0, "")}}
	case "bulletList", "orderedList", "taskList", "decisionList":
		b := &block{kind: kBullet}
		if n.Type == "orderedList" {
			b.kind, b.level = kOrdered, max(attrInt(n.Attrs, "order", 1), 0)
		}
		for _, it := range n.Content {
			if it == nil {
				continue
			}
			switch it.Type {
			case "listItem":
				b.children = append(b.children, &block{kind: kItem, children: adfToBlocks(it.Content)})
			case "taskItem", "decisionItem":
				// Task items hold inline content; their state becomes a
				// "[x]" or "[ ]" prefix.
				prefix := ""
				if it.Type == "taskItem" {
					prefix = "[ ] "
					if attrString(it.Attrs, "state") == "DONE" {
						prefix = "[x] "
					}
				}
				in := append([]inline{{kind: iText, text: prefix}}, adfToInlines(it.Content, 0, "")...)
				b.children = append(b.children, &block{kind: kItem, children: []*block{{kind: kParagraph, inlines: in}}})
			case "taskList", "bulletList", "orderedList":
				// A nested task list hangs off the previous item.
				sub := adfToBlock(it)
				if len(b.children) == 0 {
					b.children = append(b.children, &block{kind: kItem})
				}
				last := b.children[len(b.children)-1]
				last.children = append(last.children, sub...)
			default:
				b.children = append(b.children, &block{kind: kItem, children: adfToBlocks([]*adfNode{it})})
			}
		}
		return []*block{b}
	case "codeBlock":
		var t strings.Builder
		for _, c := range n.Content {
			if c != nil {
				t.WriteString(c.Text)
			}
		}
		return []*block{{kind: kCode, lang: attrString(n.Attrs, "language"), code: t.String()}}
	case "blockquote", "panel":
		return []*block{{kind: kQuote, children: adfToBlocks(n.Content)}}
	case "rule":
		return []*block{{kind: kRule}}
	case "table":
		b := &block{kind: kTable}
		for _, row := range n.Content {
			if row == nil || row.Type != "tableRow" {
				continue
			}
			rb := &block{kind: kRow}
			for _, c := range row.Content {
				if c == nil {
					continue
				}
				rb.children = append(rb.children, &block{kind: kCell, header: c.Type == "tableHeader", children: adfToBlocks(c.Content)})
			}
			b.children = append(b.children, rb)
		}
		return []*block{b}
	case "mediaSingle", "mediaGroup":
		var out []*block
		for _, m := range n.Content {
			if m == nil || m.Type != "media" {
				continue
			}
			if attrString(m.Attrs, "type") == "external" && attrString(m.Attrs, "url") != "" {
				out = append(out, &block{kind: kParagraph, inlines: []inline{{kind: iImage, href: attrString(m.Attrs, "url"), text: attrString(m.Attrs, "alt")}}})
			} else if alt := attrString(m.Attrs, "alt"); alt != "" {
				out = append(out, &block{kind: kParagraph, inlines: []inline{{kind: iText, text: alt}}})
			}
		}
		return out
	case "expand", "nestedExpand":
		var out []*block
		if t := attrString(n.Attrs, "title"); t != "" {
			out = append(out, &block{kind: kParagraph, inlines: []inline{{kind: iText, text: t, marks: mStrong}}})
		}
		return append(out, adfToBlocks(n.Content)...)
	case "blockCard", "embedCard":
		if u := attrString(n.Attrs, "url"); u != "" {
			return []*block{{kind: kParagraph, inlines: []inline{{kind: iText, text: u, href: u}}}}
		}
		return nil
	}
	// Unknown blocks (extensions, layouts): keep what they contain.
	return adfToBlocks(n.Content)
}

func adfToInlines(ns []*adfNode, marks mark, href string) []inline {
	var out []inline
	for _, n := range ns {
		if n == nil {
			continue
		}
		switch n.Type {
		case "text":
			m, h := marks, href
			for _, mk := range n.Marks {
				switch mk.Type {
				case "strong":
					m |= mStrong
				case "em":
					m |= mEm
				case "strike":
					m |= mStrike
				case "code":
					m |= mCode
				case "link":
					h = attrString(mk.Attrs, "href")
				}
			}
			// A line end inside a text node shows as a line break.
			for i, part := range strings.Split(n.Text, "\n") {
				if i > 0 {
					out = append(out, inline{kind: iBreak})
				}
				out = append(out, inline{kind: iText, text: part, marks: m, href: h})
			}
		case "hardBreak":
			out = append(out, inline{kind: iBreak})
		case "mention":
			id := attrString(n.Attrs, "id")
			if id == "" {
				out = append(out, inline{kind: iText, text: attrString(n.Attrs, "text"), marks: marks, href: href})
				continue
			}
			out = append(out, inline{kind: iMention, id: id, text: attrString(n.Attrs, "text"), marks: marks &^ mCode})
		case "emoji":
			t := attrString(n.Attrs, "text")
			if t == "" {
				t = attrString(n.Attrs, "shortName")
			}
			out = append(out, inline{kind: iText, text: t, marks: marks, href: href})
		case "inlineCard":
			if u := attrString(n.Attrs, "url"); u != "" {
				out = append(out, inline{kind: iText, text: u, href: u, marks: marks})
			}
		case "date":
			ts := attrString(n.Attrs, "timestamp")
			if ms, err := strconv.ParseInt(ts, 10, 64); err == nil {
				ts = time.UnixMilli(ms).UTC().Format("2006-01-02")
			}
			out = append(out, inline{kind: iText, text: ts, marks: marks, href: href})
		case "status":
			out = append(out, inline{kind: iText, text: attrString(n.Attrs, "text"), marks: marks, href: href})
		default:
			out = append(out, adfToInlines(n.Content, marks, href)...)
			if n.Text != "" {
				out = append(out, inline{kind: iText, text: n.Text, marks: marks, href: href})
			}
		}
	}
	return out
}

func attrString(a map[string]any, k string) string {
	switch v := a[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func attrInt(a map[string]any, k string, def int) int {
	switch v := a[k].(type) {
	case float64:
		if v >= -1e9 && v <= 1e9 {
			return int(v)
		}
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// adfMentionIDs lists the account ids an ADF document mentions.
func adfMentionIDs(raw []byte) []string {
	var doc adfNode
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	var ids []string
	var walk func(ns []*adfNode)
	walk = func(ns []*adfNode) {
		for _, n := range ns {
			if n == nil {
				continue
			}
			if n.Type == "mention" {
				if id := attrString(n.Attrs, "id"); id != "" {
					ids = append(ids, id)
				}
			}
			walk(n.Content)
		}
	}
	walk(doc.Content)
	return ids
}
