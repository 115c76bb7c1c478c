package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/backlogd/backlogd/connectors"
)

// ParseWebhook implements connectors.WebhookReceiver. It verifies
// X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the webhook
// secret) in constant time and reduces issues, issue_comment and
// sub_issues events to the issues to re-read; ping, pull request and
// other events yield an empty delivery. It never calls GitHub.
func (c *Connector) ParseWebhook(header http.Header, body []byte) (connectors.Delivery, error) {
	if c.cfg.WebhookSecret.IsZero() {
		return connectors.Delivery{}, fmt.Errorf("github %s: webhook refused: no webhook_secret is configured for this target; set one here and in the repository's webhook: %w", c.cfg.Target, connectors.ErrBadSignature)
	}
	if !connectors.ValidSHA256(c.cfg.WebhookSecret, header.Get("X-Hub-Signature-256"), body) {
		return connectors.Delivery{}, fmt.Errorf("github %s: webhook refused: %w", c.cfg.Target, connectors.ErrBadSignature)
	}
	d, err := parseEvent(header.Get("X-GitHub-Event"), body, c.cfg.Owner+"/"+c.cfg.Repo)
	if err != nil {
		return connectors.Delivery{}, fmt.Errorf("github %s: webhook: %w", c.cfg.Target, err)
	}
	d.ID = header.Get("X-GitHub-Delivery")
	return d, nil
}

// hookIssue is the part of an issue a webhook payload carries that we read.
type hookIssue struct {
	Number      int             `json:"number"`
	PullRequest json.RawMessage `json:"pull_request"`
}

type hookRepo struct {
	FullName string `json:"full_name"`
}

type payload struct {
	Action      string     `json:"action"`
	Issue       *hookIssue `json:"issue"`
	Repository  *hookRepo  `json:"repository"`
	SubIssue    *hookIssue `json:"sub_issue"`
	ParentIssue *hookIssue `json:"parent_issue"`
	// sub_issues events name the repositories of both ends, which may
	// differ from the hook's own.
	SubIssueRepo    *hookRepo `json:"sub_issue_repo"`
	ParentIssueRepo *hookRepo `json:"parent_issue_repo"`
}

// parseEvent decodes a verified payload of event for repository repo
// ("owner/name").
func parseEvent(event string, body []byte, repo string) (connectors.Delivery, error) {
	d := connectors.Delivery{Event: event}
	switch event {
	case "issues", "issue_comment", "sub_issues":
	default:
		return d, nil // ping, pull requests, pushes: nothing for us
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return d, fmt.Errorf("%s event: payload is not JSON: %w", event, err)
	}
	if event != "" && p.Action != "" {
		d.Event = event + "." + p.Action
	}
	ours := func(r *hookRepo) bool {
		return r == nil || r.FullName == "" || strings.EqualFold(r.FullName, repo)
	}
	if !ours(p.Repository) {
		return d, nil // a hook shared with another repository
	}
	isIssue := func(i *hookIssue) bool { return i != nil && i.Number > 0 && len(i.PullRequest) == 0 }
	switch event {
	case "issues":
		if !isIssue(p.Issue) {
			return d, nil
		}
		id := strconv.Itoa(p.Issue.Number)
		switch p.Action {
		case "deleted", "transferred":
			// A transferred issue is gone from this repository; its new
			// number lives in another one (see the package documentation).
			d.Deleted = []string{id}
		default:
			d.RecordIDs = []string{id}
		}
	case "issue_comment":
		if isIssue(p.Issue) {
			d.RecordIDs = []string{strconv.Itoa(p.Issue.Number)}
		}
	case "sub_issues":
		// The child's parent field changed; the parent is re-read too,
		// in case the mapping shows its children.
		if isIssue(p.SubIssue) && ours(p.SubIssueRepo) {
			d.RecordIDs = append(d.RecordIDs, strconv.Itoa(p.SubIssue.Number))
		}
		if isIssue(p.ParentIssue) && ours(p.ParentIssueRepo) {
			d.RecordIDs = append(d.RecordIDs, strconv.Itoa(p.ParentIssue.Number))
		}
	}
	return d, nil
}
