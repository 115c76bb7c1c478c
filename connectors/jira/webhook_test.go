package jira

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestParseWebhook(t *testing.T) {
	c, _ := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
	issue := func(event string) string {
		return `{"timestamp":1767225600000,"webhookEvent":"` + event + `","issue":{"id":"10042","key":"ACME-7","fields":{"project":{"key":"ACME"}}}}`
	}
	tests := []struct {
		name    string
		body    string
		ids     []string
		deleted []string
	}{
		{"a created issue is re-read", issue("jira:issue_created"), []string{"10042"}, nil},
		{"an updated issue is re-read", issue("jira:issue_updated"), []string{"10042"}, nil},
		{"a deleted issue is reported deleted", issue("jira:issue_deleted"), nil, []string{"10042"}},
		{"a comment re-reads its issue", `{"webhookEvent":"comment_created","comment":{"id":"1"},"issue":{"id":"10042","key":"ACME-7","fields":{"project":{"key":"ACME"}}}}`, []string{"10042"}, nil},
		{"a Data Center comment names its issue in its URL", `{"webhookEvent":"comment_updated","comment":{"self":"https://jira.example/rest/api/2/issue/10043/comment/5"}}`, []string{"10043"}, nil},
		{"another project's issue is ignored", `{"webhookEvent":"jira:issue_updated","issue":{"id":"9","key":"OTHER-1","fields":{"project":{"key":"OTHER"}}}}`, nil, nil},
		{"an issue moved out of the project is re-read (and reads as gone)", `{"webhookEvent":"jira:issue_updated","issue":{"id":"9","key":"OTHER-1","fields":{"project":{"key":"OTHER"}}},"changelog":{"items":[{"field":"project","fromString":"ACME"},{"field":"Key","fromString":"ACME-7"}]}}`, []string{"9"}, nil},
		{"a numeric id is read too", `{"webhookEvent":"jira:issue_updated","issue":{"id":10044,"key":"ACME-8"}}`, []string{"10044"}, nil},
		{"a worklog is nothing for us", `{"webhookEvent":"worklog_created","worklog":{"issueId":"10042"}}`, nil, nil},
		{"an id that is not one is dropped", `{"webhookEvent":"jira:issue_updated","issue":{"id":"../../etc","key":"ACME-1"}}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			d, err := c.ParseWebhook(header("X-Hub-Signature", sign(testWebhookSecret, body), "X-Atlassian-Webhook-Identifier", "d-1"), body)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.RecordIDs, tt.ids) || !slices.Equal(d.Deleted, tt.deleted) || d.ID != "d-1" {
				t.Errorf("got %+v", d)
			}
		})
	}
	t.Run("a wrong, missing or malformed signature is refused", func(t *testing.T) {
		body := []byte(issue("jira:issue_updated"))
		for _, sig := range []string{"", sign("another secret", body), "sha1=abc", "sha256=zz", sign(testWebhookSecret, body)[:20]} {
			if _, err := c.ParseWebhook(header("X-Hub-Signature", sig), body); !errors.Is(err, connectors.ErrBadSignature) {
				t.Errorf("signature %q: %v", sig, err)
			}
		}
	})
	t.Run("without a webhook_secret every delivery is refused", func(t *testing.T) {
		unsigned, _ := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter}, func(cfg *Config) { cfg.WebhookSecret = connectors.Secret{} })
		body := []byte(issue("jira:issue_deleted"))
		if _, err := unsigned.ParseWebhook(header(), body); !errors.Is(err, connectors.ErrBadSignature) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a signed body that is not JSON is an error, not a panic", func(t *testing.T) {
		body := []byte("<html>")
		if _, err := c.ParseWebhook(header("X-Hub-Signature", sign(testWebhookSecret, body)), body); err == nil || errors.Is(err, connectors.ErrBadSignature) {
			t.Errorf("got %v", err)
		}
	})
}

// FuzzParseWebhook feeds the parser any signed body: it never panics and
// only ever names decimal issue ids.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":"10042","key":"ACME-7","fields":{"project":{"key":"ACME"}}}}`))
	f.Add([]byte(`{"webhookEvent":"comment_deleted","comment":{"self":"x/issue/12/comment/3"}}`))
	f.Add([]byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":9,"fields":{"project":null}},"changelog":{"items":[{"field":"project","fromString":"ACME"}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseEvent(body, "ACME")
		if err != nil {
			return
		}
		for _, id := range append(slices.Clone(d.RecordIDs), d.Deleted...) {
			if !validIssueID(id) {
				t.Errorf("delivery names %q", id)
			}
		}
	})
}
