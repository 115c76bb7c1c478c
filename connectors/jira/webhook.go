package jira

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/backlogd/backlogd/connectors"
)

// ParseWebhook implements connectors.WebhookReceiver for Jira's admin
// webhooks (jira:issue_created, jira:issue_updated, jira:issue_deleted,
// comment_created, comment_updated, comment_deleted). The body must carry
// X-Hub-Signature: sha256=<hex HMAC-SHA256> of the webhook_secret,
// checked in constant time; without a webhook_secret every delivery is
// refused (Jira Data Center before 10 cannot sign: polling alone serves
// it). Issues of other projects are ignored, except one moved out of this
// project, which is re-read (and then reads as gone). It never calls Jira.
func (c *Connector) ParseWebhook(header http.Header, body []byte) (connectors.Delivery, error) {
	if c.cfg.WebhookSecret.IsZero() {
		return connectors.Delivery{}, fmt.Errorf("jira %s: webhook refused: no webhook_secret is configured for this target; set one here and in Jira's webhook (Jira Data Center before 10 cannot sign: rely on polling): %w", c.cfg.Target, connectors.ErrBadSignature)
	}
	if !connectors.ValidSHA256(c.cfg.WebhookSecret, header.Get("X-Hub-Signature"), body) {
		return connectors.Delivery{}, fmt.Errorf("jira %s: webhook refused: %w", c.cfg.Target, connectors.ErrBadSignature)
	}
	d, err := parseEvent(body, c.cfg.Project)
	if err != nil {
		return connectors.Delivery{}, fmt.Errorf("jira %s: webhook: %w", c.cfg.Target, err)
	}
	d.ID = header.Get("X-Atlassian-Webhook-Identifier")
	return d, nil
}

// flexID reads an id sent as a JSON string or number; anything else is
// empty.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		*f = flexID(n.String())
	}
	return nil
}

type hookIssue struct {
	ID     flexID `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Project *struct {
			Key string `json:"key"`
		} `json:"project"`
	} `json:"fields"`
}

type hookPayload struct {
	WebhookEvent string     `json:"webhookEvent"`
	Issue        *hookIssue `json:"issue"`
	Comment      *struct {
		Self string `json:"self"`
	} `json:"comment"`
	Changelog *struct {
		Items []struct {
			Field      string `json:"field"`
			FromString string `json:"fromString"`
		} `json:"items"`
	} `json:"changelog"`
}

var commentSelfRE = regexp.MustCompile(`/issue/([0-9]+)/comment/`)

// parseEvent decodes a verified payload for project.
func parseEvent(body []byte, project string) (connectors.Delivery, error) {
	var p hookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return connectors.Delivery{}, fmt.Errorf("payload is not a Jira webhook: %w", err)
	}
	d := connectors.Delivery{Event: p.WebhookEvent}
	issueEvent := strings.HasPrefix(p.WebhookEvent, "jira:issue_")
	commentEvent := strings.HasPrefix(p.WebhookEvent, "comment_")
	if !issueEvent && !commentEvent {
		return d, nil // worklogs, sprints, versions: nothing for us
	}
	id := ""
	if p.Issue != nil {
		id = string(p.Issue.ID)
	}
	if id == "" && p.Comment != nil {
		// Data Center's comment events name the issue in the comment's URL.
		if m := commentSelfRE.FindStringSubmatch(p.Comment.Self); m != nil {
			id = m[1]
		}
	}
	if !validIssueID(id) {
		return d, nil
	}
	if p.Issue != nil && !inProject(p.Issue, project) {
		// Another project's issue, unless it just left this one: a
		// re-read then reports it gone.
		if p.Changelog != nil {
			for _, it := range p.Changelog.Items {
				if (it.Field == "project" || it.Field == "Key") && strings.HasPrefix(strings.ToUpper(it.FromString), strings.ToUpper(project)) {
					d.RecordIDs = []string{id}
				}
			}
		}
		return d, nil
	}
	if p.WebhookEvent == "jira:issue_deleted" {
		d.Deleted = []string{id}
		return d, nil
	}
	d.RecordIDs = []string{id}
	return d, nil
}

func validIssueID(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func inProject(is *hookIssue, project string) bool {
	if is.Fields.Project != nil && is.Fields.Project.Key != "" {
		return strings.EqualFold(is.Fields.Project.Key, project)
	}
	if is.Key != "" {
		return strings.EqualFold(projectOf(is.Key), project)
	}
	return true
}
