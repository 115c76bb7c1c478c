package jira

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

const testWebhookSecret = "It's a Secret to Everybody"

// flavors runs f once per Jira product, against a fake of it.
func flavors(t *testing.T, f func(t *testing.T, fl jirafake.Flavor)) {
	for _, fl := range []jirafake.Flavor{jirafake.Cloud, jirafake.DataCenter} {
		t.Run("on "+string(fl), func(t *testing.T) { f(t, fl) })
	}
}

// testConfig is a connector configuration for a fake: small waits so
// limits come back as errors, and transition fields for its workflow.
func testConfig(srv *jirafake.Server) Config {
	fl := srv.Options().Flavor
	cfg := Config{
		Settings: Settings{URL: srv.URL, Project: srv.Options().Project, Token: "env:JIRA_TOKEN", PageSize: 100,
			TransitionFields: map[string]map[string]string{
				"Done":     {"resolution": "Done"},
				"Won't Do": {"resolution": "Won't Do", "comment": "Closed from the product backlog."},
			}},
		Target:        "test-jira",
		WebhookSecret: connectors.NewSecret(testWebhookSecret),
		Base:          srv.Client().Transport,
		MaxWait:       2 * time.Second,
		MaxRetries:    2,
	}
	if fl == jirafake.Cloud {
		cfg.User, cfg.Token = jirafake.BotEmail, connectors.NewSecret(jirafake.APIToken)
	} else {
		cfg.Token = connectors.NewSecret(jirafake.PAT)
	}
	return cfg
}

// newFake starts a fake of flavour o.Flavor and a connector on it.
func newFake(t testing.TB, o jirafake.Options, tune ...func(*Config)) (*Connector, *jirafake.Server) {
	t.Helper()
	srv := jirafake.New(o)
	t.Cleanup(srv.Close)
	cfg := testConfig(srv)
	for _, f := range tune {
		f(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// counter is a connectors.Observer that counts requests by class.
type counter struct {
	mu     sync.Mutex
	byKind map[string]int
	paused int
}

func newCounter() *counter { return &counter{byKind: map[string]int{}} }

func (c *counter) Request(_, class string, status int, _ time.Duration) {
	c.mu.Lock()
	c.byKind[class]++
	c.byKind[class+" "+strconv.Itoa(status)]++
	c.mu.Unlock()
}
func (c *counter) RateLimit(string, int, time.Time) {}
func (c *counter) Paused(string, time.Time) {
	c.mu.Lock()
	c.paused++
	c.mu.Unlock()
}

// drain lists Changes until caught up and returns the ids in order.
func drain(t testing.TB, c *Connector, cursor string) ([]string, string) {
	t.Helper()
	var ids []string
	for range 1000 {
		p, err := c.Changes(context.Background(), cursor)
		if err != nil {
			t.Fatalf("changes: %v", err)
		}
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		cursor = p.Cursor
		if !p.More {
			return ids, cursor
		}
	}
	t.Fatal("changes never caught up")
	return nil, ""
}

func fields(kv ...string) connectors.Fields {
	f := connectors.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// header builds an http.Header from pairs.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}
