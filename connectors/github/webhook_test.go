package github

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

func sign(secret string, body []byte) string { return connectors.SignSHA256(secret, body) }

func TestParseWebhookRefusesUnsignedOrWronglySignedDeliveries(t *testing.T) {
	c, _ := newFake(t, githubfake.Options{})
	body := []byte(`{"action":"opened","issue":{"number":7},"repository":{"full_name":"acme/webshop"}}`)
	good := sign(testWebhookSecret, body)
	tests := []struct {
		name string
		sig  string
		body []byte
	}{
		{"a delivery without a signature is refused", "", body},
		{"a delivery signed with another secret is refused", sign("guess", body), body},
		{"a delivery whose body was changed after signing is refused", good, []byte(`{"action":"opened","issue":{"number":8}}`)},
		{"a SHA-1 signature alone is refused", "sha1=" + good[7:47], body},
		{"a signature that is not hex is refused", "sha256=zz" + good[9:], body},
		{"a truncated signature is refused", good[:len(good)-2], body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header("X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-1")
			if tt.sig != "" {
				h.Set("X-Hub-Signature-256", tt.sig)
			}
			d, err := c.ParseWebhook(h, tt.body)
			if !errors.Is(err, connectors.ErrBadSignature) {
				t.Fatalf("err = %v, want ErrBadSignature", err)
			}
			if len(d.RecordIDs) != 0 || len(d.Deleted) != 0 || d.ID != "" {
				t.Errorf("a refused delivery returned %+v; it must return nothing", d)
			}
		})
	}
	t.Run("without a configured secret every delivery is refused", func(t *testing.T) {
		c, _ := newFake(t, githubfake.Options{}, func(cfg *Config) { cfg.WebhookSecret = connectors.Secret{} })
		h := header("X-GitHub-Event", "issues", "X-Hub-Signature-256", sign("", body))
		if _, err := c.ParseWebhook(h, body); !errors.Is(err, connectors.ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
	})
}

func TestParseWebhookNamesTheIssuesToReread(t *testing.T) {
	c, _ := newFake(t, githubfake.Options{})
	tests := []struct {
		name, event, body string
		reread, deleted   []string
	}{
		{name: "an edited issue is re-read", event: "issues",
			body:   `{"action":"edited","issue":{"number":12},"repository":{"full_name":"acme/webshop"}}`,
			reread: []string{"12"}},
		{name: "a labeled issue is re-read", event: "issues",
			body:   `{"action":"labeled","issue":{"number":3},"label":{"name":"bug"}}`,
			reread: []string{"3"}},
		{name: "a deleted issue is reported deleted", event: "issues",
			body:    `{"action":"deleted","issue":{"number":12},"repository":{"full_name":"acme/webshop"}}`,
			deleted: []string{"12"}},
		{name: "a transferred issue is gone from this repository", event: "issues",
			body:    `{"action":"transferred","issue":{"number":12},"changes":{"new_issue":{"number":1},"new_repository":{"full_name":"acme/other"}}}`,
			deleted: []string{"12"}},
		{name: "a new comment re-reads its issue", event: "issue_comment",
			body:   `{"action":"created","issue":{"number":5},"comment":{"id":99,"body":"hi"}}`,
			reread: []string{"5"}},
		{name: "a comment on a pull request is nothing for us", event: "issue_comment",
			body: `{"action":"created","issue":{"number":6,"pull_request":{"url":"x"}},"comment":{"id":1}}`},
		{name: "a sub-issue change re-reads the child and the parent", event: "sub_issues",
			body:   `{"action":"sub_issue_added","sub_issue":{"number":8},"parent_issue":{"number":2},"parent_issue_repo":{"full_name":"acme/webshop"}}`,
			reread: []string{"8", "2"}},
		{name: "a parent in another repository is not re-read here", event: "sub_issues",
			body:   `{"action":"parent_issue_added","sub_issue":{"number":8},"parent_issue":{"number":2},"parent_issue_repo":{"full_name":"acme/other"}}`,
			reread: []string{"8"}},
		{name: "a ping is nothing for us", event: "ping", body: `{"zen":"Keep it logically awesome.","hook_id":1}`},
		{name: "a pull request event is nothing for us", event: "pull_request", body: `{"action":"opened","number":4}`},
		{name: "an issues event for a pull request is nothing for us", event: "issues",
			body: `{"action":"edited","issue":{"number":4,"pull_request":{}}}`},
		{name: "an event of another repository sharing the hook is nothing for us", event: "issues",
			body: `{"action":"edited","issue":{"number":4},"repository":{"full_name":"acme/other"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			h := header("X-GitHub-Event", tt.event, "X-GitHub-Delivery", "72d3162e", "X-Hub-Signature-256", sign(testWebhookSecret, body))
			d, err := c.ParseWebhook(h, body)
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != "72d3162e" {
				t.Errorf("ID = %q, want the X-GitHub-Delivery header", d.ID)
			}
			if !slices.Equal(d.RecordIDs, tt.reread) || !slices.Equal(d.Deleted, tt.deleted) {
				t.Errorf("re-read %v, deleted %v; want %v, %v", d.RecordIDs, d.Deleted, tt.reread, tt.deleted)
			}
		})
	}
	t.Run("a signed delivery that is not JSON is an error, not a panic", func(t *testing.T) {
		body := []byte(`{"action":`)
		h := header("X-GitHub-Event", "issues", "X-Hub-Signature-256", sign(testWebhookSecret, body))
		if _, err := c.ParseWebhook(h, body); err == nil || errors.Is(err, connectors.ErrBadSignature) {
			t.Fatalf("err = %v, want a decoding error", err)
		}
	})
}

// FuzzParseWebhook feeds signed payloads of every event kind: the parser
// must never panic and never name an id that is not a positive number.
func FuzzParseWebhook(f *testing.F) {
	for _, s := range []struct{ event, body string }{
		{"issues", `{"action":"opened","issue":{"number":1},"repository":{"full_name":"acme/webshop"}}`},
		{"issues", `{"action":"deleted","issue":{"number":2,"pull_request":null}}`},
		{"issue_comment", `{"action":"edited","issue":{"number":3},"comment":{"id":4}}`},
		{"sub_issues", `{"action":"sub_issue_removed","sub_issue":{"number":5},"parent_issue":{"number":6}}`},
		{"ping", `{}`},
		{"issues", `{"issue":{"number":-1}}`},
		{"issues", `[]`},
		{"sub_issues", `{"sub_issue":null,"parent_issue":{"number":"7"}}`},
	} {
		f.Add(s.event, []byte(s.body))
	}
	srv := githubfake.New(githubfake.Options{})
	defer srv.Close()
	c, err := New(Config{Settings: Settings{Owner: "acme", Repo: "webshop", Token: "env:T", BaseURL: srv.URL},
		Token: connectors.NewSecret("t"), WebhookSecret: connectors.NewSecret(testWebhookSecret)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		h := http.Header{}
		h.Set("X-GitHub-Event", event)
		h.Set("X-Hub-Signature-256", sign(testWebhookSecret, body))
		d, err := c.ParseWebhook(h, body)
		if err != nil {
			return
		}
		for _, id := range append(slices.Clone(d.RecordIDs), d.Deleted...) {
			if n, err := parseNumber(id); err != nil || n <= 0 {
				t.Fatalf("delivery names %q, not an issue number", id)
			}
		}
	})
}
