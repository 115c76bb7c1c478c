package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/backlogd/backlogd/backlog"
)

// Expr is a compiled scope or filter expression over canonical fields:
//
//	clients has "acme" and kind in [story, bug] and not phase = launch
//
// Operators: = != (scalar fields), has (list fields), in [a, b] (scalar in
// a list), and, or, not, parentheses; the literal `all` matches every item.
//
// Identifiers are canonical field names (estimate.points); values are bare
// words or double-quoted strings ("needs design"). `and` binds tighter
// than `or`; `not` binds tightest. Values of kind, status, phase and
// priority are checked against the canonical ones, and numbers, dates and
// money are compared in their canonical encoding, so `estimate.points = 3.0`
// matches an item with 3 points.
//
// The zero Expr matches nothing.
type Expr struct {
	src  string
	root exprNode
}

// String returns the expression's source text.
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	return e.src
}

// Match reports whether the projected fields satisfy the expression. A nil
// or zero Expr matches nothing, so a missing scope can never leak an item.
func (e *Expr) Match(f backlog.Fields) bool {
	if e == nil || e.root == nil {
		return false
	}
	return e.root.match(f)
}

// ParseExpr compiles an expression; errors name the column and the fix.
func ParseExpr(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks}
	if p.peek().kind == tokEOF {
		return nil, fmt.Errorf("column 1: the expression is empty; write `all` to match every item")
	}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("column %d: unexpected %s after a complete condition; join conditions with `and` or `or`", t.col, t.describe())
	}
	return &Expr{src: src, root: root}, nil
}

// maxExprDepth bounds nesting so that hostile input cannot exhaust the
// stack; no real scope nests this deep.
const maxExprDepth = 64

// keywords are the words with a meaning of their own; as values they
// must be quoted.
var keywords = []string{"and", "or", "not", "has", "in", "all"}

type exprNode interface {
	match(backlog.Fields) bool
}

type (
	allNode struct{}
	notNode struct{ x exprNode }
	andNode struct{ l, r exprNode }
	orNode  struct{ l, r exprNode }
	eqNode  struct {
		field backlog.Field
		value string
		neg   bool
	}
	hasNode struct {
		field backlog.Field
		value string
	}
	inNode struct {
		field  backlog.Field
		values []string
	}
)

func (allNode) match(backlog.Fields) bool     { return true }
func (n notNode) match(f backlog.Fields) bool { return !n.x.match(f) }
func (n andNode) match(f backlog.Fields) bool { return n.l.match(f) && n.r.match(f) }
func (n orNode) match(f backlog.Fields) bool  { return n.l.match(f) || n.r.match(f) }
func (n eqNode) match(f backlog.Fields) bool  { return (f[n.field] == n.value) != n.neg }
func (n inNode) match(f backlog.Fields) bool  { return slices.Contains(n.values, f[n.field]) }
func (n hasNode) match(f backlog.Fields) bool {
	vs, err := backlog.DecodeList(f[n.field])
	return err == nil && slices.Contains(vs, n.value)
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString
	tokLParen
	tokRParen
	tokLBrack
	tokRBrack
	tokComma
	tokEq
	tokNeq
)

type token struct {
	kind tokKind
	text string
	col  int
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return fmt.Sprintf("%q", t.text)
	}
	return "`" + t.text + "`"
}

// keyword reports whether t is the bare word w (quoted words are values).
func (t token) keyword(w string) bool { return t.kind == tokWord && t.text == w }

func isWordRune(r rune) bool {
	return !unicode.IsSpace(r) && !strings.ContainsRune(`()[],="'!`, r) && r != utf8.RuneError
}

func lex(src string) ([]token, error) {
	var toks []token
	col := 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRuneInString(src[i:])
		start := col
		switch {
		case r == utf8.RuneError && size <= 1:
			return nil, fmt.Errorf("column %d: invalid UTF-8; write the expression as plain text", col)
		case unicode.IsSpace(r):
			i += size
			col++
			continue
		case strings.ContainsRune("()[],=", r):
			kind := map[rune]tokKind{'(': tokLParen, ')': tokRParen, '[': tokLBrack, ']': tokRBrack, ',': tokComma, '=': tokEq}[r]
			toks = append(toks, token{kind: kind, text: string(r), col: start})
			i += size
			col++
		case r == '!':
			if !strings.HasPrefix(src[i:], "!=") {
				return nil, fmt.Errorf("column %d: `!` on its own is not an operator; write `!=` to compare or `not` to negate", col)
			}
			toks = append(toks, token{kind: tokNeq, text: "!=", col: start})
			i += 2
			col += 2
		case r == '"' || r == '\'':
			var b strings.Builder
			j := i + size
			col++
			closed := false
			for j < len(src) {
				c, n := utf8.DecodeRuneInString(src[j:])
				if c == utf8.RuneError && n <= 1 {
					return nil, fmt.Errorf("column %d: invalid UTF-8; write the expression as plain text", col)
				}
				j += n
				col++
				if c == r {
					closed = true
					break
				}
				if c == '\\' && j < len(src) {
					e, m := utf8.DecodeRuneInString(src[j:])
					if e != '"' && e != '\'' && e != '\\' {
						return nil, fmt.Errorf("column %d: unknown escape \\%c; only \\\", \\' and \\\\ are allowed", col, e)
					}
					c = e
					j += m
					col++
				}
				b.WriteRune(c)
			}
			if !closed {
				return nil, fmt.Errorf("column %d: the string starting here is not closed; add a closing %c", start, r)
			}
			toks = append(toks, token{kind: tokString, text: b.String(), col: start})
			i = j
		default:
			j := i
			for j < len(src) {
				c, n := utf8.DecodeRuneInString(src[j:])
				if !isWordRune(c) {
					break
				}
				j += n
				col++
			}
			toks = append(toks, token{kind: tokWord, text: src[i:j], col: start})
			i = j
		}
	}
	toks = append(toks, token{kind: tokEOF, col: col})
	return toks, nil
}

type exprParser struct {
	toks  []token
	pos   int
	depth int
}

func (p *exprParser) peek() token { return p.toks[p.pos] }

func (p *exprParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *exprParser) or() (exprNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().keyword("or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *exprParser) and() (exprNode, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek().keyword("and") {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *exprParser) unary() (exprNode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, fmt.Errorf("column %d: the expression nests deeper than %d levels; simplify it", p.peek().col, maxExprDepth)
	}
	t := p.peek()
	switch {
	case t.keyword("not"):
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case t.kind == tokLParen:
		p.next()
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, fmt.Errorf("column %d: expected `)` to close the `(` at column %d, found %s", c.col, t.col, c.describe())
		}
		return x, nil
	case t.keyword("all"):
		p.next()
		return allNode{}, nil
	}
	return p.comparison()
}

func (p *exprParser) comparison() (exprNode, error) {
	t := p.next()
	if t.kind != tokWord {
		return nil, fmt.Errorf("column %d: expected a field name such as status or clients, found %s", t.col, t.describe())
	}
	if slices.Contains(keywords, t.text) {
		return nil, fmt.Errorf("column %d: expected a field name such as status or clients, found %s", t.col, t.describe())
	}
	if !backlog.IsField(t.text) {
		return nil, fmt.Errorf("column %d: unknown field %q; %s", t.col, t.text, suggestField(t.text))
	}
	f := backlog.Field(t.text)
	op := p.next()
	switch {
	case op.kind == tokEq || op.kind == tokNeq:
		if f.IsList() {
			return nil, fmt.Errorf("column %d: %s holds a list; write `%s has VALUE` instead of `%s`", op.col, f, f, op.text)
		}
		v, err := p.value(f)
		if err != nil {
			return nil, err
		}
		return eqNode{field: f, value: v, neg: op.kind == tokNeq}, nil
	case op.keyword("has"):
		if !f.IsList() {
			return nil, fmt.Errorf("column %d: %s holds one value; write `%s = VALUE` or `%s in [A, B]` instead of `has`", op.col, f, f, f)
		}
		v, err := p.value(f)
		if err != nil {
			return nil, err
		}
		return hasNode{field: f, value: v}, nil
	case op.keyword("in"):
		if f.IsList() {
			return nil, fmt.Errorf("column %d: %s holds a list; write `%s has A or %s has B` instead of `in`", op.col, f, f, f)
		}
		if b := p.next(); b.kind != tokLBrack {
			return nil, fmt.Errorf("column %d: expected `[` after `in`, found %s; write `%s in [A, B]`", b.col, b.describe(), f)
		}
		var vs []string
		for {
			v, err := p.value(f)
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
			sep := p.next()
			if sep.kind == tokRBrack {
				break
			}
			if sep.kind != tokComma {
				return nil, fmt.Errorf("column %d: expected `,` or `]` in the list, found %s", sep.col, sep.describe())
			}
		}
		return inNode{field: f, values: vs}, nil
	}
	return nil, fmt.Errorf("column %d: expected =, !=, has or in after %s, found %s", op.col, f, op.describe())
}

// value reads one literal and checks it against the field's domain.
func (p *exprParser) value(f backlog.Field) (string, error) {
	t := p.next()
	if t.kind != tokWord && t.kind != tokString {
		return "", fmt.Errorf("column %d: expected a value for %s, found %s; quote values with spaces like \"needs design\"", t.col, f, t.describe())
	}
	if t.kind == tokWord && slices.Contains(keywords, t.text) {
		return "", fmt.Errorf("column %d: %q is a keyword; quote it (\"%s\") to use it as a value of %s", t.col, t.text, t.text, f)
	}
	v, err := canonicalValue(f, t.text)
	if err != nil {
		return "", fmt.Errorf("column %d: %w", t.col, err)
	}
	return v, nil
}

// canonicalValue checks a single value of field f (one element for list
// fields) and returns it in the encoding backlog.Item.Get uses.
func canonicalValue(f backlog.Field, v string) (string, error) {
	if v == "" || f.IsList() {
		return v, nil
	}
	if dom := enumDomain(f); dom != nil {
		if !slices.Contains(dom, v) {
			return "", fmt.Errorf("%q is not a %s; use one of %s", v, f, strings.Join(dom, ", "))
		}
		return v, nil
	}
	var it backlog.Item
	if err := it.Set(f, v); err != nil {
		// Set prefixes the field name to an error that already has it.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return "", err
	}
	return it.Get(f), nil
}

// enumDomain lists the canonical values of an enumerated field in
// canonical order, or nil for free-form fields.
func enumDomain(f backlog.Field) []string {
	switch f {
	case backlog.FieldKind:
		return strs(backlog.Kinds)
	case backlog.FieldStatus:
		return strs(backlog.Statuses)
	case backlog.FieldPhase:
		return strs(backlog.Phases)
	case backlog.FieldPriority:
		return strs(backlog.Priorities)
	}
	return nil
}

func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// suggestField names the canonical fields and the closest to a typo.
func suggestField(got string) string {
	names := strs(backlog.AllFields)
	best, bestD := "", 3
	for _, k := range names {
		if d := editDistance(got, k); d < bestD {
			best, bestD = k, d
		}
	}
	msg := "canonical fields are " + strings.Join(names, ", ")
	if best != "" {
		msg = fmt.Sprintf("did you mean %q? (%s)", best, msg)
	}
	return msg
}
