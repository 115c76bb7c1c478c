package github

import (
	"net/http"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

const testWebhookSecret = "It's a Secret to Everybody"

// newFake starts a fake and a connector on it with small waits, so that
// limits come back as errors instead of sleeps.
func newFake(t testing.TB, o githubfake.Options, tune ...func(*Config)) (*Connector, *githubfake.Server) {
	t.Helper()
	srv := githubfake.New(o)
	t.Cleanup(srv.Close)
	return connectFake(t, srv, tune...), srv
}

// connectFake makes another connector on a running fake: a second
// replica, or the same daemon after a restart (nothing in memory).
func connectFake(t testing.TB, srv *githubfake.Server, tune ...func(*Config)) *Connector {
	t.Helper()
	cfg := Config{
		Settings:         Settings{Owner: srv.Options().Owner, Repo: srv.Options().Repo, Token: "env:GITHUB_TOKEN", BaseURL: srv.URL, PageSize: 100},
		Target:           "test-github",
		Token:            connectors.NewSecret(srv.Options().Token),
		WebhookSecret:    connectors.NewSecret(testWebhookSecret),
		Base:             srv.Client().Transport,
		MinLimitWait:     time.Minute,
		MaxWait:          2 * time.Second,
		CreatesPerMinute: -1, WritesPerMinute: -1,
		CreatesPerHour: -1,
	}
	for _, f := range tune {
		f(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// header builds an http.Header from pairs.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}
