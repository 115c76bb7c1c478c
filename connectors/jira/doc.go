// Package jira is the connector for Jira projects, on Jira Cloud and Jira
// Data Center, built on go-jira v1.17.0 (its client for requests and
// credentials, its types where they hold what Jira sends) and the shared
// connectors/transport client.
//
// # Settings
//
//	settings:
//	  url: https://acme.atlassian.net
//	  project: ACME
//	  flavor: cloud                     # or datacenter; detected from /rest/api/2/serverInfo when left out
//	  user: po@acme.com                 # Cloud: the API token's account; Data Center: leave out for a PAT
//	  token: env:ACME_JIRA_TOKEN
//	  webhook_secret: env:ACME_JIRA_WEBHOOK_SECRET   # webhooks are refused without it
//	  page_size: 100                    # issues per search page, 1..100
//	  time_zone: Europe/Paris           # overrides the user's zone from /myself
//	  default_issue_type: Task          # for records created without an issue type
//	  marker_label: true                # also mark issues with a backlogd-BL-42 label
//	  internal_visibility: role:Administrators   # who sees internal comments
//	  transition_fields:                # what workflow transitions require
//	    Done: {resolution: Done}
//	    Won't Do: {resolution: Won't Do, comment: Closed from the product backlog}
//
// # Records
//
// One issue is one record. ID is the issue id (stable when the issue moves
// and changes key), Key the issue key. Native fields: summary, description
// (canonical Markdown), issuetype, status, resolution, priority, labels,
// components, fixVersions (sorted names), assignee and reporter (read-only):
// on Cloud the user's e-mail, or account id when the user hides it; on
// Data Center the user name. parent is the parent issue's id; duedate is
// YYYY-MM-DD. Every custom field appears by its name ("Story Points",
// "Team", "Epic Link"), or by id where several share a name; names are
// resolved to the site's ids (customfield_10016) at start through
// /rest/api/2/field, and Capabilities lists them with the project's issue
// types, statuses, components, versions, priorities and resolutions, so
// `backlogd validate` and `plan` refuse a name the site does not have.
// The Epic Link (Data Center and older Cloud projects) holds the epic's id
// like parent does; map parent to whichever the project uses.
//
// An issue moved to another project (a new key) reads as
// connectors.ErrNotFound from this target, like a GitHub transfer; its id
// does not change, so a link made by id survives a key change.
//
// Comments keep their visibility: a restricted comment is internal, and
// an internal comment is created restricted to internal_visibility. Jira
// replaces a comment's visibility on edit, so edits send it again.
//
// # The two products
//
// Jira Cloud removed /rest/api/{2,3}/search (CHANGE-2046: 410 Gone since
// 2025). Its replacement, /rest/api/3/search/jql, pages with nextPageToken,
// says isLast and gives no total; go-jira v1.17.0's SearchV2JQL drops the
// token, so searches are built with NewRequest and Do. Cloud bodies are
// Atlassian Document Format (REST v3), auth is e-mail and API token.
// Data Center keeps /rest/api/2/search with startAt and total, wiki markup
// bodies (v2), and a personal access token as bearer. Package markup
// converts both markups to and from canonical Markdown without drift.
//
// Search lags behind writes by seconds: records are always read back by
// id, never by search.
//
// # Changes
//
// Changes pages JQL on updated (project = "ACME" AND updated >= "…" ORDER
// BY updated ASC, key ASC), whose dates are minutes in the user's time
// zone. The cursor stays Overlap (a minute) behind the newest update seen
// and drops what it already returned, by id, updated time and the digest
// of the record's fields and marker that its Version carries (on Data
// Center sites whose times have whole seconds, a second edit in one
// second keeps the time but not the digest); a page whose newest
// update lies past the window starts a narrower query rather than paging
// deep, so an issue edited while listed is not skipped.
//
// # Workflows
//
// Status is changed by transitions: the connector plans the shortest path
// over the workflow graph it has learned from GET …/transitions
// (expand=transitions.fields), takes one transition, reads the
// transitions again, and explores toward the target's status category
// where the graph is unknown. Fields a transition requires come from the
// write (a mapped resolution) or transition_fields; a missing one, an
// unreachable status or a refused transition is a connectors.TerminalError
// naming the issue, the transition and the field.
//
// # Idempotency marker
//
// Create stores the canonical id as the entity property backlogd
// ({"id": "BL-42"}), in the create request itself, and as the label
// backlogd-BL-42. The property is cheap to read but not searchable for an
// API-token client; FindByMarker therefore never trusts a property
// search: it reads issues it knows by id, searches the label, searches
// what the integration user created recently, and reads by key the issues
// numbered after the newest indexed one, which sees a create the index
// does not show yet.
//
// # Limits
//
// Classify reads 429 (Retry-After, X-RateLimit-Reset, RateLimit-Reason)
// and 503 with Retry-After; RateLimit-Reason picks the scope to slow:
// jira-burst-based an endpoint, jira-per-issue-on-write one issue, quota
// limits the whole target. 5xx are retried with jittered back-off by the
// shared client (never a create); 401 and 403 are terminal (401 scoped to
// the whole target, 403 to the endpoint: the syncer tells a failing
// target from a failing item by it), 404 is connectors.ErrNotFound, 400
// terminal with Jira's messages.
//
// # Webhooks
//
// ParseWebhook verifies X-Hub-Signature (sha256, constant time) against
// the webhook_secret (deliveries are refused without one: Jira Data
// Center before 10 cannot sign, and is served by polling alone) and turns
// issue and comment events into ids to re-read, deletions into deleted
// ids; polling repairs lost deliveries.
//
// Package jirafake is an in-process fake of both products' REST APIs for
// tests and the demo; the conformance suite runs against it for both
// flavours and, when JIRA_URL, JIRA_USER, JIRA_TOKEN and
// BACKLOGD_JIRA_TEST_PROJECT are set, against a real site.
package jira
