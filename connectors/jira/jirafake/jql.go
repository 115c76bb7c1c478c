package jirafake

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A small JQL: clauses on project, key, id, labels, status, issuetype,
// creator, reporter, assignee, created and updated, joined by AND, OR,
// NOT and parentheses, with ORDER BY. issue.property[…] parses and finds
// nothing, as on a site where no app indexes the property.

type query struct {
	where expr
	order []orderKey
}

type orderKey struct {
	field string
	desc  bool
}

type expr interface {
	eval(s *Server, is *Issue, me User) bool
}

type andExpr struct{ l, r expr }
type orExpr struct{ l, r expr }
type notExpr struct{ e expr }
type clause struct {
	field  string
	op     string
	values []string
	fn     string // currentUser(), or EMPTY
}
type trueExpr struct{}

func (e andExpr) eval(s *Server, is *Issue, me User) bool {
	return e.l.eval(s, is, me) && e.r.eval(s, is, me)
}
func (e orExpr) eval(s *Server, is *Issue, me User) bool {
	return e.l.eval(s, is, me) || e.r.eval(s, is, me)
}
func (e notExpr) eval(s *Server, is *Issue, me User) bool { return !e.e.eval(s, is, me) }
func (trueExpr) eval(*Server, *Issue, User) bool          { return true }

var tokenRE = regexp.MustCompile(`\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(!=|>=|<=|!~|=|>|<|~|\(|\)|,)|(issue\.property\[[^\]]*\](?:\.[A-Za-z0-9_.]+)?)|([A-Za-z0-9_.\-/:@+]+))`)

type token struct {
	text   string
	quoted bool
}

func lex(s string) ([]token, error) {
	var out []token
	rest := s
	for strings.TrimSpace(rest) != "" {
		m := tokenRE.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			return nil, fmt.Errorf("Error in the JQL Query: the character '%s' is a reserved JQL character", strings.TrimSpace(rest)[:1])
		}
		switch {
		case m[2] >= 0:
			out = append(out, token{text: unquote(rest[m[2]:m[3]]), quoted: true})
		case m[4] >= 0:
			out = append(out, token{text: unquote(rest[m[4]:m[5]]), quoted: true})
		case m[6] >= 0:
			out = append(out, token{text: rest[m[6]:m[7]]})
		case m[8] >= 0:
			out = append(out, token{text: rest[m[8]:m[9]]})
		default:
			out = append(out, token{text: rest[m[10]:m[11]]})
		}
		rest = rest[m[1]:]
	}
	return out, nil
}

func unquote(s string) string {
	return strings.NewReplacer(`\"`, `"`, `\'`, `'`, `\\`, `\`).Replace(s)
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) next() (token, bool) {
	t, ok := p.peek()
	if ok {
		p.pos++
	}
	return t, ok
}

func (p *parser) keyword(k string) bool {
	t, ok := p.peek()
	if ok && !t.quoted && strings.EqualFold(t.text, k) {
		p.pos++
		return true
	}
	return false
}

func parseJQL(s string) (query, error) {
	toks, err := lex(s)
	if err != nil {
		return query{}, err
	}
	p := &parser{toks: toks}
	q := query{where: trueExpr{}}
	if t, ok := p.peek(); ok && !(strings.EqualFold(t.text, "order") && !t.quoted) {
		if q.where, err = p.or(); err != nil {
			return query{}, err
		}
	}
	if p.keyword("order") {
		if !p.keyword("by") {
			return query{}, fmt.Errorf("Error in the JQL Query: expecting 'by' after 'order'")
		}
		for {
			t, ok := p.next()
			if !ok {
				return query{}, fmt.Errorf("Error in the JQL Query: expecting a field name after 'order by'")
			}
			k := orderKey{field: strings.ToLower(t.text)}
			if p.keyword("desc") {
				k.desc = true
			} else {
				p.keyword("asc")
			}
			q.order = append(q.order, k)
			if t, ok := p.peek(); !ok || t.text != "," {
				break
			}
			p.next()
		}
	}
	if t, ok := p.peek(); ok {
		return query{}, fmt.Errorf("Error in the JQL Query: expecting either 'OR' or 'AND' but got '%s'", t.text)
	}
	return q, nil
}

func (p *parser) or() (expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orExpr{l, r}
	}
	return l, nil
}

func (p *parser) and() (expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andExpr{l, r}
	}
	return l, nil
}

func (p *parser) unary() (expr, error) {
	if p.keyword("not") {
		e, err := p.unary()
		return notExpr{e}, err
	}
	if t, ok := p.peek(); ok && t.text == "(" && !t.quoted {
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if t, ok := p.next(); !ok || t.text != ")" {
			return nil, fmt.Errorf("Error in the JQL Query: expecting ')'")
		}
		return e, nil
	}
	return p.clause()
}

var knownFields = []string{"project", "key", "issuekey", "id", "labels", "status", "issuetype", "type", "creator", "reporter", "assignee", "created", "updated", "summary"}

func (p *parser) clause() (expr, error) {
	f, ok := p.next()
	if !ok {
		return nil, fmt.Errorf("Error in the JQL Query: expecting a field name")
	}
	field := strings.ToLower(f.text)
	if !strings.HasPrefix(field, "issue.property[") && !slices.Contains(knownFields, field) {
		return nil, fmt.Errorf("Field '%s' does not exist or you do not have permission to view it.", f.text)
	}
	c := clause{field: field}
	op, ok := p.next()
	if !ok {
		return nil, fmt.Errorf("Error in the JQL Query: expecting an operator after '%s'", f.text)
	}
	c.op = strings.ToLower(op.text)
	switch {
	case c.op == "is":
		c.op = "is"
		if p.keyword("not") {
			c.op = "is not"
		}
		if !p.keyword("empty") && !p.keyword("null") {
			return nil, fmt.Errorf("Error in the JQL Query: expecting EMPTY after IS")
		}
		return c, nil
	case c.op == "not":
		if !p.keyword("in") {
			return nil, fmt.Errorf("Error in the JQL Query: expecting IN after NOT")
		}
		c.op = "not in"
	}
	switch c.op {
	case "=", "!=", ">=", "<=", ">", "<", "~", "!~":
		v, ok := p.next()
		if !ok {
			return nil, fmt.Errorf("Error in the JQL Query: expecting a value after '%s'", c.op)
		}
		if !v.quoted && strings.EqualFold(v.text, "currentUser") {
			if a, _ := p.next(); a.text != "(" {
				return nil, fmt.Errorf("Error in the JQL Query: expecting '('")
			}
			if a, _ := p.next(); a.text != ")" {
				return nil, fmt.Errorf("Error in the JQL Query: expecting ')'")
			}
			c.fn = "currentuser"
		} else {
			c.values = []string{v.text}
		}
	case "in", "not in":
		if t, _ := p.next(); t.text != "(" {
			return nil, fmt.Errorf("Error in the JQL Query: expecting '(' after IN")
		}
		for {
			v, ok := p.next()
			if !ok {
				return nil, fmt.Errorf("Error in the JQL Query: unterminated list")
			}
			if v.text == ")" && !v.quoted {
				break
			}
			if v.text == "," && !v.quoted {
				continue
			}
			c.values = append(c.values, v.text)
		}
	default:
		return nil, fmt.Errorf("Error in the JQL Query: unknown operator '%s'", op.text)
	}
	return c, nil
}

func (c clause) eval(s *Server, is *Issue, me User) bool {
	if strings.HasPrefix(c.field, "issue.property[") {
		// Not indexed: an API-token client finds nothing this way.
		return false
	}
	var have []string
	switch c.field {
	case "project":
		have = []string{s.opts.Project, "10000"}
	case "key", "issuekey":
		have = []string{is.Key, strconv.Itoa(is.ID)}
	case "id":
		have = []string{strconv.Itoa(is.ID)}
	case "labels":
		have = is.Labels
	case "status":
		have = []string{is.Status}
	case "issuetype", "type":
		have = []string{is.IssueType}
	case "summary":
		have = []string{is.Summary}
	case "creator", "reporter", "assignee":
		id := map[string]string{"creator": is.Creator, "reporter": is.Reporter, "assignee": is.Assignee}[c.field]
		if c.op == "is" || c.op == "is not" {
			return (id == "") == (c.op == "is")
		}
		want := c.values
		if c.fn == "currentuser" {
			want = []string{me.id(s.opts.Flavor)}
		}
		u, _ := s.user(id)
		match := id != "" && (slices.Contains(want, id) || u.Email != "" && slices.Contains(want, u.Email))
		return match == (c.op == "=" || c.op == "in")
	case "created", "updated":
		t := is.Created
		if c.field == "updated" {
			t = is.Updated
		}
		if len(c.values) != 1 {
			return false
		}
		at, ok := s.jqlTime(c.values[0])
		if !ok {
			return false
		}
		switch c.op {
		case ">=":
			return !t.Before(at)
		case ">":
			return t.After(at)
		case "<=":
			return !t.After(at)
		case "<":
			return t.Before(at)
		case "=":
			return t.Equal(at)
		}
		return false
	}
	switch c.op {
	case "is":
		return len(have) == 0 || len(have) == 1 && have[0] == ""
	case "is not":
		return !(len(have) == 0 || len(have) == 1 && have[0] == "")
	case "=", "in":
		return intersects(have, c.values)
	case "!=", "not in":
		return !intersects(have, c.values)
	case "~":
		return len(have) > 0 && len(c.values) == 1 && strings.Contains(strings.ToLower(have[0]), strings.ToLower(c.values[0]))
	}
	return false
}

func intersects(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if strings.EqualFold(h, w) {
				return true
			}
		}
	}
	return false
}

var relTimeRE = regexp.MustCompile(`^([-+]?\d+)([mhdw])$`)

// jqlTime reads a JQL date: "yyyy-MM-dd HH:mm", "yyyy/MM/dd HH:mm",
// "yyyy-MM-dd" in the user's time zone, or a relative "-5m".
func (s *Server) jqlTime(v string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02 15:04", "2006/01/02 15:04", "2006-01-02", "2006/01/02"} {
		if t, err := time.ParseInLocation(layout, v, s.tz); err == nil {
			return t, true
		}
	}
	if m := relTimeRE.FindStringSubmatch(v); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
		return s.now().Add(time.Duration(n) * unit).Truncate(time.Minute), true
	}
	return time.Time{}, false
}

// sortIssues orders issues by the query's ORDER BY (default key DESC, as
// Jira's default ordering is by creation).
func sortIssues(list []*Issue, order []orderKey) {
	if len(order) == 0 {
		order = []orderKey{{field: "key", desc: true}}
	}
	slices.SortStableFunc(list, func(a, b *Issue) int {
		for _, k := range order {
			c := 0
			switch k.field {
			case "updated":
				c = a.Updated.Compare(b.Updated)
			case "created":
				c = a.Created.Compare(b.Created)
			case "key", "id", "issuekey":
				c = a.ID - b.ID
			}
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return a.ID - b.ID
	})
}
