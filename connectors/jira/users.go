package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	gojira "github.com/andygrunwald/go-jira"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/markup"
)

// Records name people the way client files map them: on Cloud by e-mail
// (account ids where the user hides their e-mail), on Data Center by
// user name. Jira wants account ids (Cloud, where user names are gone for
// privacy) or user names in writes and mentions; the directory resolves
// between them and remembers every user it has seen.
type directory struct {
	c *Connector

	mu      sync.Mutex
	byID    map[string]string    // Jira id (account id, user name) to record name
	byName  map[string]userRef   // record name to Jira id
	missing map[string]time.Time // names not found, until when not to ask again
}

type userRef struct {
	id      string
	display string
}

func newDirectory(c *Connector) *directory {
	return &directory{c: c, byID: map[string]string{}, byName: map[string]userRef{}, missing: map[string]time.Time{}}
}

// seen returns a user's record name and remembers it.
func (d *directory) seen(cloud bool, u *gojira.User) string {
	if u == nil {
		return ""
	}
	id, name := u.Name, u.Name
	if cloud {
		id, name = u.AccountID, u.AccountID
		if u.EmailAddress != "" {
			name = u.EmailAddress
		}
	}
	if id == "" {
		return ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byID[id] = name
	ref := userRef{id: id, display: u.DisplayName}
	d.byName[name] = ref
	d.byName[id] = ref
	if u.EmailAddress != "" {
		d.byName[strings.ToLower(u.EmailAddress)] = ref
	}
	return name
}

var accountIDRE = regexp.MustCompile(`^(?:[0-9a-f]{24}|[0-9]+:[0-9a-f-]{8,}[0-9a-z-]*)$`)

// resolve returns the Jira id of the user a record names. ErrNotFound
// (wrapped) when the site has no such user.
func (d *directory) resolve(ctx context.Context, m *meta, name string) (userRef, error) {
	d.mu.Lock()
	ref, ok := d.byName[name]
	if !ok {
		ref, ok = d.byName[strings.ToLower(name)]
	}
	until, missing := d.missing[name]
	d.mu.Unlock()
	if ok {
		return ref, nil
	}
	if missing && time.Now().Before(until) {
		return userRef{}, fmt.Errorf("jira: user %q: %w", name, connectors.ErrNotFound)
	}
	if m.cloud && accountIDRE.MatchString(name) {
		return userRef{id: name, display: name}, nil
	}
	var found *gojira.User
	var err error
	if m.cloud {
		var us []gojira.User
		err = d.c.do(ctx, call{op: "find user " + name, method: http.MethodGet, path: "rest/api/3/user/search", query: url.Values{"query": {name}}, out: &us})
		found = pick(us, name)
	} else {
		var u gojira.User
		err = d.c.do(ctx, call{op: "find user " + name, method: http.MethodGet, path: "rest/api/2/user", query: url.Values{"username": {name}}, out: &u})
		if err == nil {
			found = &u
		} else if errors.Is(err, connectors.ErrNotFound) && strings.Contains(name, "@") {
			var us []gojira.User
			err = d.c.do(ctx, call{op: "find user " + name, method: http.MethodGet, path: "rest/api/2/user/search", query: url.Values{"username": {name}}, out: &us})
			found = pick(us, name)
		}
	}
	if err != nil && !errors.Is(err, connectors.ErrNotFound) {
		return userRef{}, err
	}
	if found == nil {
		d.mu.Lock()
		d.missing[name] = time.Now().Add(10 * time.Minute)
		d.mu.Unlock()
		return userRef{}, fmt.Errorf("jira: user %q: %w", name, connectors.ErrNotFound)
	}
	d.seen(m.cloud, found)
	d.mu.Lock()
	ref = userRef{id: found.AccountID, display: found.DisplayName}
	if !m.cloud {
		ref.id = found.Name
	}
	d.byName[name] = ref
	d.mu.Unlock()
	return ref, nil
}

// pick chooses the user an e-mail or name designates among search
// results: an exact e-mail (or user name) match, never a guess.
func pick(us []gojira.User, name string) *gojira.User {
	for i := range us {
		if strings.EqualFold(us[i].EmailAddress, name) || us[i].Name != "" && us[i].Name == name {
			return &us[i]
		}
	}
	return nil
}

// nameOf returns the record name of the user with Jira id id (for
// mentions): Data Center ids are user names already; Cloud account ids
// are looked up once. A user Jira does not know (deleted, or hidden from
// the integration user) is named by the account id, and that is
// remembered too. Any other failure (a rate limit, an outage) is an
// error: a read rendering the mention otherwise ("@Display Name") would
// change the text, which the syncer would take for an edit in Jira and
// write back everywhere, and the next read would flip it back.
func (d *directory) nameOf(ctx context.Context, m *meta, id string) (string, error) {
	d.mu.Lock()
	name, ok := d.byID[id]
	d.mu.Unlock()
	if ok {
		return name, nil
	}
	if !m.cloud {
		return id, nil
	}
	var u gojira.User
	err := d.c.do(ctx, call{op: "read user " + id + " mentioned in a body", method: http.MethodGet, path: "rest/api/3/user", query: url.Values{"accountId": {id}}, out: &u})
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		d.mu.Lock()
		d.byID[id] = id
		d.mu.Unlock()
		return id, nil
	case err != nil:
		return "", err
	case u.AccountID == "":
		u.AccountID = id
	}
	return d.seen(true, &u), nil
}

// mentions is a markup.Mentions over names resolved beforehand, so the
// converters never wait on the network.
type mentions struct {
	ids   map[string]userRef // record name to Jira user
	names map[string]string  // Jira id to record name
}

func (x mentions) ID(name string) (string, string, bool) {
	r, ok := x.ids[name]
	if !ok {
		return "", "", false
	}
	return r.id, "@" + r.display, true
}

func (x mentions) Name(id string) (string, bool) {
	n, ok := x.names[id]
	return n, ok
}

// mentionsIn resolves the @names of Markdown text for a write; unknown
// names stay text.
func (c *Connector) mentionsIn(ctx context.Context, m *meta, md string) markup.Mentions {
	x := mentions{ids: map[string]userRef{}, names: map[string]string{}}
	for _, n := range markup.MarkdownMentions(md) {
		// Cloud records name people by e-mail or account id: anything
		// else ("@here", "@team") is not looked up.
		if m.cloud && !strings.Contains(n, "@") && !accountIDRE.MatchString(n) {
			continue
		}
		if r, err := c.users.resolve(ctx, m, n); err == nil {
			if r.display == "" || r.display == n {
				r.display = n
			}
			x.ids[n] = r
			x.names[r.id] = n
		}
	}
	return x
}

// mentionsOf resolves the users a Jira body mentions, for a read.
func (c *Connector) mentionsOf(ctx context.Context, m *meta, ids []string) (markup.Mentions, error) {
	x := mentions{ids: map[string]userRef{}, names: map[string]string{}}
	for _, id := range ids {
		n, err := c.users.nameOf(ctx, m, id)
		if err != nil {
			return nil, err
		}
		x.names[id] = n
		x.ids[n] = userRef{id: id, display: n}
	}
	return x, nil
}

// toJira converts canonical Markdown into the body Jira takes: ADF on
// Cloud, wiki markup on Data Center; "" is null.
func (c *Connector) toJira(ctx context.Context, m *meta, md string) any {
	if strings.TrimSpace(md) == "" {
		return nil
	}
	ms := c.mentionsIn(ctx, m, md)
	if m.cloud {
		return json.RawMessage(markup.ToADF(md, ms))
	}
	return markup.ToWiki(md, ms)
}

// fromJira converts a body Jira sent (ADF, wiki markup, or null) into
// canonical Markdown. A body that is not what the product sends is kept
// as text rather than lost. It fails only when a mentioned user could
// not be looked up: the read is then retried rather than made with a
// mention rendered another way.
func (c *Connector) fromJira(ctx context.Context, m *meta, raw []byte) (string, error) {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return "", nil
	}
	if strings.HasPrefix(t, "{") {
		ms, err := c.mentionsOf(ctx, m, markup.ADFMentions(raw))
		if err != nil {
			return "", err
		}
		md, err := markup.FromADF(raw, ms)
		if err == nil {
			return md, nil
		}
		c.log.Warn("jira: a body is not an ADF document; keeping it as text", "error", err)
		return t, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return t, nil
	}
	ms, err := c.mentionsOf(ctx, m, markup.WikiMentions(s))
	if err != nil {
		return "", err
	}
	return markup.FromWiki(s, ms), nil
}
