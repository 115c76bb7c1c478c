package file

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/backlogd/backlogd/connectors"
)

// Top-level keys the connector owns. Every other key is a native field.
const (
	keyID       = "id"
	keyCreated  = "created"
	keyUpdated  = "updated"
	keyVersion  = "version"
	keyComments = "comments"
)

// reserved reports whether name is a key the connector owns, which no
// native field may use.
func reserved(name string) bool {
	switch name {
	case keyID, keyCreated, keyUpdated, keyVersion, keyComments:
		return true
	}
	return false
}

// listFields are always written as YAML lists, even with one value, so a
// person adding a second value has the shape to follow.
var listFields = map[string]bool{"labels": true, "teams": true, "clients": true, "acceptance": true}

// fieldOrder is the order keys take in a new file, and where a key added
// to an existing file goes: the marker first, the canonical fields a
// person scans for, then any other field by name, then comments and the
// bookkeeping keys.
var fieldOrder = []string{
	keyID, "kind", "title", "status", "phase", "priority", "assignee", "parent", "due",
	"clients", "teams", "labels", "estimate.effort", "estimate.points", "estimate.cost",
	"description", "acceptance",
}

var tailOrder = []string{keyComments, keyCreated, keyUpdated, keyVersion}

// rank orders keys: known fields by fieldOrder, other fields by name
// between them and the tail.
func rank(name string) (int, string) {
	if i := slices.Index(fieldOrder, name); i >= 0 {
		return i, ""
	}
	if i := slices.Index(tailOrder, name); i >= 0 {
		return len(fieldOrder) + 1 + i, ""
	}
	return len(fieldOrder), name
}

func rankLess(a, b string) bool {
	ra, na := rank(a)
	rb, nb := rank(b)
	if ra != rb {
		return ra < rb
	}
	return na < nb
}

// maxFileSize bounds what is read into memory: an item file is text a
// person edits, and a file larger than this is a mistake to report, not
// a record.
const maxFileSize = 8 << 20

// versionLen is the length of a version: hex of a truncated SHA-256.
const versionLen = 16

// ParseError says why a file is not a valid item file, and where.
type ParseError struct {
	// File is the file's path.
	File string
	// Line is the 1-based line of the problem; 0 when the YAML parser
	// could not say.
	Line int
	// Msg says what is wrong and how to fix it.
	Msg string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// item is one parsed file: the YAML tree (kept for edits, so a person's
// comments, key order and own keys survive a write) and what it says.
type item struct {
	doc  *yaml.Node // DocumentNode; its one child is root
	root *yaml.Node // MappingNode
	raw  []byte

	marker   string
	fields   connectors.Fields
	comments []connectors.Comment
	created  time.Time
	updated  time.Time
	// stamp is the version key's value: the hash backlogd computed when
	// it last wrote the file. hash is the content's hash now; they differ
	// once a person edited the file.
	stamp string
	hash  string
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the yaml.v3 parser's (not scanner's) messages, whose
// line numbers it reports counted from 0.
var parserProblems = []string{"did not find expected ", "found duplicate %", "found incompatible YAML", "found undefined tag"}

// yamlErrorLine splits a yaml.v3 syntax error into a 1-based line and its
// message. yaml.v3 leaves the line out when it is the first one, and
// counts parser errors' lines from 0.
func yamlErrorLine(s string) (int, string) {
	m := yamlLine.FindStringSubmatch(s)
	if m == nil {
		return 1, s
	}
	line, msg := 0, m[2]
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
	}
	for _, p := range parserProblems {
		if strings.HasPrefix(msg, p) {
			return line + 1, msg
		}
	}
	return max(line, 1), msg
}

// parse reads an item file. It never panics: any input yields an item or
// a *ParseError that names the line and says what to fix.
func parse(path string, raw []byte) (it *item, err error) {
	defer func() {
		if r := recover(); r != nil {
			it, err = nil, &ParseError{File: path, Msg: fmt.Sprintf("the YAML parser failed (%v); fix the file's syntax", r)}
		}
	}()
	fail := func(line int, format string, args ...any) (*item, error) {
		return nil, &ParseError{File: path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if len(raw) > maxFileSize {
		return fail(0, "the file is %d bytes, more than the %d an item file may hold; split it or move large content elsewhere", len(raw), maxFileSize)
	}
	if !utf8.Valid(raw) && !bytes.HasPrefix(raw, []byte{0xfe, 0xff}) && !bytes.HasPrefix(raw, []byte{0xff, 0xfe}) {
		return fail(lineOfInvalidUTF8(raw), "the file is not valid UTF-8; save it as UTF-8")
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		line, msg := yamlErrorLine(err.Error())
		return fail(line, "invalid YAML: %s; fix the syntax", msg)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			line = 0
		}
		return fail(line, "the file holds more than one YAML document (a --- separator); keep one item per file")
	}
	it = &item{raw: raw, fields: connectors.Fields{}, comments: []connectors.Comment{}}
	if doc.Kind == 0 {
		// Empty, or only comments: an item with nothing set yet.
		doc = yaml.Node{Kind: yaml.DocumentNode}
	}
	if len(doc.Content) == 0 {
		doc.Content = []*yaml.Node{{Kind: yaml.MappingNode}}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		*root = yaml.Node{Kind: yaml.MappingNode, HeadComment: root.HeadComment, LineComment: root.LineComment, FootComment: root.FootComment}
	}
	if root.Kind != yaml.MappingNode {
		return fail(root.Line, "the file holds %s; an item file is a list of `field: value` lines (a YAML mapping)", kindName(root))
	}
	it.doc, it.root = &doc, root
	if err := noAliases(root); err != nil {
		return fail(err.Line, "YAML aliases (*%s) are not supported in item files; write the value out", err.Value)
	}

	where := map[string]int{} // field name → line, to catch one written twice
	versionLine := 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return fail(k.Line, "a key is empty or not plain text; write `name: value`")
		}
		name := k.Value
		if prev, dup := where[name]; dup {
			return fail(k.Line, "key %q appears twice (first at line %d); keep one", name, prev)
		}
		where[name] = k.Line
		switch name {
		case keyID:
			s, ok := scalarText(v)
			if !ok {
				return fail(v.Line, "id holds %s; it is the backlog id backlogd wrote (like id: BL-42): one value, or remove the line", kindName(v))
			}
			it.marker = strings.TrimSpace(s)
		case keyCreated, keyUpdated:
			s, ok := scalarText(v)
			if !ok {
				return fail(v.Line, "%s holds %s; write a time like %s: 2024-05-01T10:00:00Z", name, kindName(v), name)
			}
			if s == "" {
				continue
			}
			t, err := parseTime(s)
			if err != nil {
				return fail(v.Line, "%s %q is not a time; write it like %s: 2024-05-01T10:00:00Z", name, s, name)
			}
			if name == keyCreated {
				it.created = t
			} else {
				it.updated = t
			}
		case keyVersion:
			s, ok := scalarText(v)
			if !ok {
				return fail(v.Line, "version holds %s; it is written by backlogd: remove the line and backlogd writes it again", kindName(v))
			}
			it.stamp = s
			// Only a block-style line of its own can be left out of the
			// hash; in a one-line flow mapping it would take every field
			// with it.
			if v.Line == k.Line && k.Column == 1 && root.Style&yaml.FlowStyle == 0 && !strings.Contains(s, "\n") {
				versionLine = k.Line
			}
		case keyComments:
			cs, perr := parseComments(path, v)
			if perr != nil {
				return nil, perr
			}
			it.comments = cs
		default:
			if err := readField(path, name, k, v, it.fields, where); err != nil {
				return nil, err
			}
		}
	}
	it.hash = contentHash(raw, versionLine)
	return it, nil
}

// readField reads one native field; a mapping holds nested fields named
// with dots (estimate: {points: 3} is estimate.points).
func readField(path, name string, k, v *yaml.Node, out connectors.Fields, where map[string]int) error {
	fail := func(line int, format string, args ...any) error {
		return &ParseError{File: path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil
		}
		out[name] = []string{v.Value}
	case yaml.SequenceNode:
		var vals []string
		for j, e := range v.Content {
			s, ok := scalarText(e)
			if !ok {
				return fail(e.Line, "%s: item %d is %s; a field holds text or a list of text, like %s: [a, b]", name, j+1, kindName(e), name)
			}
			vals = append(vals, s)
		}
		if len(vals) > 0 {
			out[name] = vals
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			ck, cv := v.Content[i], v.Content[i+1]
			if ck.Kind != yaml.ScalarNode || ck.Value == "" {
				return fail(ck.Line, "%s: a key is empty or not plain text; write `name: value`", name)
			}
			full := name + "." + ck.Value
			if prev, dup := where[full]; dup {
				return fail(ck.Line, "field %s is written twice (first at line %d); keep one", full, prev)
			}
			where[full] = ck.Line
			if err := readField(path, full, ck, cv, out, where); err != nil {
				return err
			}
		}
	default:
		return fail(v.Line, "%s holds %s; a field holds text or a list of text", name, kindName(v))
	}
	return nil
}

var commentKeys = []string{"id", "author", "created", "updated", "internal", "body"}

func parseComments(path string, v *yaml.Node) ([]connectors.Comment, error) {
	fail := func(line int, format string, args ...any) error {
		return &ParseError{File: path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	out := []connectors.Comment{}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return out, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fail(v.Line, "comments holds %s; write a list of comments, each `- author: …` with a body", kindName(v))
	}
	ids := map[string]int{}
	for i, cn := range v.Content {
		if cn.Kind != yaml.MappingNode {
			return nil, fail(cn.Line, "comment %d is %s; each comment is a mapping with %s", i+1, kindName(cn), strings.Join(commentKeys, ", "))
		}
		var c connectors.Comment
		for j := 0; j+1 < len(cn.Content); j += 2 {
			k, cv := cn.Content[j], cn.Content[j+1]
			if !slices.Contains(commentKeys, k.Value) {
				return nil, fail(k.Line, "comment %d: unknown key %q; a comment has %s", i+1, k.Value, strings.Join(commentKeys, ", "))
			}
			s, ok := scalarText(cv)
			if !ok {
				return nil, fail(cv.Line, "comment %d: %s holds %s; write one value", i+1, k.Value, kindName(cv))
			}
			switch k.Value {
			case "id":
				c.ID = strings.TrimSpace(s)
			case "author":
				c.Author = s
			case "body":
				c.Body = s
			case "internal":
				b, ok := parseBool(s)
				if !ok {
					return nil, fail(cv.Line, "comment %d: internal %q is not true or false", i+1, s)
				}
				c.Internal = b
			case "created", "updated":
				if s == "" {
					continue
				}
				t, err := parseTime(s)
				if err != nil {
					return nil, fail(cv.Line, "comment %d: %s %q is not a time; write it like 2024-05-01T10:00:00Z", i+1, k.Value, s)
				}
				if k.Value == "created" {
					c.Created = t
				} else {
					c.Updated = t
				}
			}
		}
		if c.ID == "" {
			c.ID = derivedCommentID(c)
		}
		if prev, dup := ids[c.ID]; dup {
			return nil, fail(cn.Line, "comment id %q appears twice (first at line %d); give each comment its own id", c.ID, prev)
		}
		ids[c.ID] = cn.Line
		if c.Updated.IsZero() {
			c.Updated = c.Created
		}
		out = append(out, c)
	}
	return out, nil
}

// derivedCommentID names a comment a person wrote without an id, from
// what it says; backlogd writes the id into the file on its next write,
// after which editing the body keeps it.
func derivedCommentID(c connectors.Comment) string {
	h := sha256.Sum256([]byte(c.Author + "\x00" + c.Created.Format(time.RFC3339Nano) + "\x00" + c.Body))
	return "h" + hex.EncodeToString(h[:4])
}

// contentHash is a file's version: a hash of its bytes without the line
// holding the version key, so writing the version does not change it.
func contentHash(raw []byte, skipLine int) string {
	h := sha256.New()
	if skipLine <= 0 {
		h.Write(raw)
	} else {
		start, end := lineSpan(raw, skipLine)
		h.Write(raw[:start])
		h.Write(raw[end:])
	}
	return hex.EncodeToString(h.Sum(nil))[:versionLen]
}

// lineSpan returns the byte range of 1-based line n, newline included.
func lineSpan(raw []byte, n int) (int, int) {
	start := 0
	for l := 1; l < n; l++ {
		i := bytes.IndexByte(raw[start:], '\n')
		if i < 0 {
			return len(raw), len(raw)
		}
		start += i + 1
	}
	end := len(raw)
	if i := bytes.IndexByte(raw[start:], '\n'); i >= 0 {
		end = start + i + 1
	}
	return start, end
}

func lineOfInvalidUTF8(raw []byte) int {
	line := 1
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		raw = raw[size:]
	}
	return line
}

// scalarText returns a scalar's text ("" for null); ok is false for a
// list or a mapping.
func scalarText(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("the text %q", n.Value)
	}
	return "something else"
}

// noAliases returns the first alias node under n, or nil.
func noAliases(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n
	}
	for _, c := range n.Content {
		if a := noAliases(c); a != nil {
			return a
		}
	}
	return nil
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", "2006-01-02"}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off", "":
		return false, true
	}
	return false, false
}

// ---- editing ----

// scalarNode renders one value so that it reads back as the same text:
// plain where YAML allows it (3, 2024-05-01 and true stay unquoted, since
// values are read as text), quoted where plain text would read as
// nothing, a literal block for readable multi-line text.
func scalarNode(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: v}
	switch {
	case isNullText(v):
		n.Tag = "!!str"
	case strings.Contains(v, "\n"):
		if literalSafe(v) {
			n.Style = yaml.LiteralStyle
		} else {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return n
}

func isNullText(v string) bool {
	switch v {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

// literalSafe reports whether a literal block (|) keeps v exactly; yaml.v3
// loses text that starts with a newline or a space, carriage returns and
// trailing blanks on a line.
func literalSafe(v string) bool {
	if strings.HasPrefix(v, "\n") || strings.HasPrefix(v, " ") || strings.ContainsAny(v, "\r\t\u0085\u2028\u2029\ufeff") {
		return false
	}
	for _, l := range strings.Split(v, "\n") {
		if strings.TrimRight(l, " ") != l {
			return false
		}
	}
	for _, r := range v {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) {
			return false
		}
	}
	return true
}

// valueNode renders a field's values: a list for list fields, several
// values, or a field already written as a list; else one scalar.
func valueNode(name string, vals []string, old *yaml.Node) *yaml.Node {
	asList := listFields[lastPart(name)] || len(vals) > 1 || (old != nil && old.Kind == yaml.SequenceNode)
	if !asList {
		n := scalarNode(vals[0])
		if old != nil && old.Kind == yaml.ScalarNode {
			n.LineComment = old.LineComment
			if n.Style == 0 && n.Tag == "" && (old.Style == yaml.SingleQuotedStyle || old.Style == yaml.DoubleQuotedStyle) {
				n.Style = old.Style // keep the person's quoting
			}
		}
		return n
	}
	n := &yaml.Node{Kind: yaml.SequenceNode}
	if old != nil {
		n.LineComment = old.LineComment
		if old.Kind == yaml.SequenceNode {
			n.Style = old.Style & yaml.FlowStyle
		}
	}
	for _, v := range vals {
		e := scalarNode(v)
		if n.Style&yaml.FlowStyle != 0 && e.Style == yaml.LiteralStyle {
			e.Style = yaml.DoubleQuotedStyle
		}
		n.Content = append(n.Content, e)
	}
	return n
}

func lastPart(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// find returns the mapping and index of the key holding field name: a
// top-level key, or one nested below keys whose dotted path spells name.
func find(m *yaml.Node, name string) (*yaml.Node, int) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == name {
			return m, i
		}
		if rest, ok := strings.CutPrefix(name, k.Value+"."); ok && v.Kind == yaml.MappingNode {
			if mm, j := find(v, rest); mm != nil {
				return mm, j
			}
		}
	}
	return nil, -1
}

// nestParent returns the nested mapping a new field belongs in (the
// deepest mapping whose path is a prefix of name) and the key within it.
func nestParent(m *yaml.Node, name string) (*yaml.Node, string, bool) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if rest, ok := strings.CutPrefix(name, k.Value+"."); ok && v.Kind == yaml.MappingNode {
			if mm, key, ok := nestParent(v, rest); ok {
				return mm, key, true
			}
			return v, rest, true
		}
	}
	return nil, "", false
}

// setField sets (or with no values removes) native field name in the
// tree. It refuses to replace nested fields with a value, which would
// drop them.
func setField(root *yaml.Node, name string, vals []string) error {
	if len(vals) == 1 && vals[0] == "" {
		vals = nil
	}
	m, i := find(root, name)
	if m != nil {
		old := m.Content[i+1]
		if old.Kind == yaml.MappingNode && len(old.Content) > 0 {
			return fmt.Errorf("field %s holds nested fields (%s.%s…); write those fields instead, or edit the file by hand", name, name, old.Content[0].Value)
		}
		if len(vals) == 0 {
			removeKey(m, i)
			if m != root {
				pruneEmpty(root)
			}
			return nil
		}
		m.Content[i+1] = valueNode(name, vals, old)
		return nil
	}
	if len(vals) == 0 {
		return nil
	}
	if pm, key, ok := nestParent(root, name); ok {
		pm.Content = append(pm.Content, scalarNode(key), valueNode(name, vals, nil))
		return nil
	}
	insertKey(root, name, valueNode(name, vals, nil))
	return nil
}

// insertKey adds a top-level key before the first key that sorts after it.
func insertKey(root *yaml.Node, name string, v *yaml.Node) {
	k := scalarNode(name)
	k.Style &^= yaml.LiteralStyle
	at := len(root.Content)
	for i := 0; i+1 < len(root.Content); i += 2 {
		if rankLess(name, root.Content[i].Value) {
			at = i
			break
		}
	}
	if at == 0 && len(root.Content) > 0 {
		// The first key's head comment usually describes the file: keep
		// it at the top.
		k.HeadComment, root.Content[0].HeadComment = root.Content[0].HeadComment, ""
	}
	root.Content = slices.Insert(root.Content, at, k, v)
}

// removeKey deletes the pair at i, moving its head comment to the next
// key so a person's comment is not lost with the field.
func removeKey(m *yaml.Node, i int) {
	if hc := m.Content[i].HeadComment; hc != "" && i+2 < len(m.Content) {
		next := m.Content[i+2]
		next.HeadComment = strings.TrimSpace(hc + "\n" + next.HeadComment)
	}
	m.Content = slices.Delete(m.Content, i, i+2)
}

// pruneEmpty removes nested mappings left empty by a removal.
func pruneEmpty(m *yaml.Node) {
	for i := 0; i+1 < len(m.Content); {
		v := m.Content[i+1]
		if v.Kind == yaml.MappingNode {
			pruneEmpty(v)
			if len(v.Content) == 0 {
				removeKey(m, i)
				continue
			}
		}
		i += 2
	}
}

// setKey sets a top-level bookkeeping key to one scalar value.
func setKey(root *yaml.Node, name, value string) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == name {
			n := scalarNode(value)
			n.LineComment = root.Content[i+1].LineComment
			root.Content[i+1] = n
			return
		}
	}
	insertKey(root, name, scalarNode(value))
}

func getKey(root *yaml.Node, name string) *yaml.Node {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == name {
			return root.Content[i+1]
		}
	}
	return nil
}

func deleteKey(root *yaml.Node, name string) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == name {
			removeKey(root, i)
			return
		}
	}
}

// commentsNode returns the comments sequence, creating it when create is set.
func commentsNode(root *yaml.Node, create bool) *yaml.Node {
	if n := getKey(root, keyComments); n != nil && n.Kind == yaml.SequenceNode {
		return n
	}
	if !create {
		return nil
	}
	n := &yaml.Node{Kind: yaml.SequenceNode}
	deleteKey(root, keyComments) // an empty `comments:` line
	insertKey(root, keyComments, n)
	return n
}

// commentID reads the id a comment mapping carries ("" when none).
func commentID(cn *yaml.Node) string {
	if v := getKey(cn, "id"); v != nil {
		s, _ := scalarText(v)
		return strings.TrimSpace(s)
	}
	return ""
}

func commentMapping(c connectors.Comment) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) { m.Content = append(m.Content, scalarNode(k), v) }
	add("id", scalarNode(c.ID))
	add("author", scalarNode(c.Author))
	add("created", scalarNode(formatTime(c.Created)))
	if !c.Updated.IsZero() && !c.Updated.Equal(c.Created) {
		add("updated", scalarNode(formatTime(c.Updated)))
	}
	if c.Internal {
		add("internal", &yaml.Node{Kind: yaml.ScalarNode, Value: "true"})
	}
	add("body", scalarNode(c.Body))
	return m
}

// stampCommentIDs writes the derived id into comments a person wrote
// without one, so the id stays when they edit the body later.
func stampCommentIDs(it *item) {
	seq := commentsNode(it.root, false)
	if seq == nil {
		return
	}
	for i, cn := range seq.Content {
		if cn.Kind == yaml.MappingNode && commentID(cn) == "" && i < len(it.comments) {
			cn.Content = slices.Insert(cn.Content, 0, scalarNode("id"), scalarNode(it.comments[i].ID))
		}
	}
}

// render encodes the tree and stamps the version: the hash of the result
// without its version line. It parses its own output and checks that
// every value reads back as written, so a value YAML cannot hold
// faithfully is an error, never a silent change.
func render(path string, it *item) ([]byte, *item, error) {
	it.root.Style &^= yaml.FlowStyle
	setKey(it.root, keyVersion, strings.Repeat("0", versionLen))
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(it.doc); err != nil {
		return nil, nil, fmt.Errorf("encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, nil, fmt.Errorf("encode: %w", err)
	}
	out := buf.Bytes()
	back, err := parse(path, out)
	if err != nil {
		return nil, nil, fmt.Errorf("the encoded file does not read back: %w", err)
	}
	if err := sameContent(it, back); err != nil {
		return nil, nil, err
	}
	// The version line is outside the hash: replace the placeholder in
	// place, which changes nothing else.
	line := getKey(back.root, keyVersion)
	if line == nil {
		return nil, nil, errors.New("the encoded file lost its version line")
	}
	start, end := lineSpan(out, line.Line)
	seg := bytes.Replace(out[start:end], []byte(strings.Repeat("0", versionLen)), []byte(back.hash), 1)
	final := slices.Concat(out[:start], seg, out[end:])
	back.raw, back.stamp = final, back.hash
	return final, back, nil
}

// sameContent reports an error when want's values did not survive encoding.
func sameContent(want, got *item) error {
	wf, err := treeFields(want)
	if err != nil {
		return err
	}
	for _, n := range wf.Names() {
		if !slices.Equal(wf[n], got.fields[n]) {
			return fmt.Errorf("field %s cannot be stored in YAML as it is (%q reads back as %q)", n, wf[n], got.fields[n])
		}
	}
	if len(got.fields) != len(wf) {
		return errors.New("the encoded file holds fields that were not written")
	}
	if got.marker != want.marker {
		return fmt.Errorf("the id %q cannot be stored in YAML as it is", want.marker)
	}
	return nil
}

// treeFields reads the fields the tree holds now (after edits).
func treeFields(it *item) (connectors.Fields, error) {
	out := connectors.Fields{}
	where := map[string]int{}
	for i := 0; i+1 < len(it.root.Content); i += 2 {
		k, v := it.root.Content[i], it.root.Content[i+1]
		if reserved(k.Value) {
			continue
		}
		if err := readField("", k.Value, k, v, out, where); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fileHeader heads every file backlogd creates, for the person who opens it.
const fileHeader = "# Backlog item synced by backlogd. Edit any field; keep the id line.\n# backlogd maintains created, updated and version."

// newItem starts the tree of a new file.
func newItem() *item {
	root := &yaml.Node{Kind: yaml.MappingNode}
	return &item{
		doc:    &yaml.Node{Kind: yaml.DocumentNode, HeadComment: fileHeader, Content: []*yaml.Node{root}},
		root:   root,
		fields: connectors.Fields{},
	}
}

// checkFieldName refuses names a file cannot hold as a field.
func checkFieldName(name string) error {
	switch {
	case name == "":
		return errors.New("a field has an empty name; name every field in the client's mapping")
	case reserved(name):
		return fmt.Errorf("field %q is reserved in file trackers (id, created, updated, version and comments are backlogd's); map the field to another name", name)
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, ".."):
		return fmt.Errorf("field name %q has an empty part between dots; fix the name in the client's mapping", name)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("field name %q holds control characters or invalid UTF-8; fix the name in the client's mapping", name)
	}
	return nil
}

func checkValues(name string, vals []string) error {
	for _, v := range vals {
		if !utf8.ValidString(v) {
			return fmt.Errorf("field %s holds text that is not valid UTF-8, which a YAML file cannot hold", name)
		}
	}
	return nil
}
