// Package github is the connector for GitHub Issues (github.com and GitHub
// Enterprise Server), built on go-github v60 and the shared
// connectors/transport client.
//
// # Settings
//
//	settings:
//	  owner: acme-corp
//	  repo: webshop
//	  token: env:GITHUB_TOKEN          # fine-grained token: Issues read/write, Metadata read
//	  base_url: https://ghe.example.com/api/v3/   # GitHub Enterprise Server only
//	  webhook_secret: env:ACME_GITHUB_WEBHOOK_SECRET   # optional; webhooks are refused without it
//	  page_size: 100                   # issues per listing page, 1..100
//
// # Records
//
// A record is one issue (pull requests are filtered out). Its ID is the
// issue number ("12") and its Key "#12". Native fields: title, body (the
// idempotency marker stripped), state (open, closed), state_reason
// (completed, not_planned, reopened), labels (sorted), assignees (sorted
// logins), milestone (title), parent (the parent issue's number, through
// the sub-issues endpoints) and type (the issue type's name, on
// repositories of organisations that define types).
//
// Records returned by Changes carry no comments, and their parent only
// where the server reports parent_issue_url (github.com does; older
// Enterprise Server releases ask GET .../parent); Get, Create and Update
// read them all. Reading an issue without comments is one request.
//
// A transferred issue leaves the repository: GitHub answers its old
// number with a redirect to another repository, which this connector
// reports as ErrNotFound (and a webhook "transferred" action as a
// deletion), so the syncer applies the client's on_remote_delete. The
// issue is not followed into the other repository, which belongs to
// another target if it is synced at all.
//
// # Idempotency marker
//
// Create appends a hidden HTML comment, <!-- backlogd:id=BL-42 -->, to
// the body. The marker is stripped from the body field on read and
// appended again on every write of the body, so a user who deletes it
// has it repaired on the next write. An Update that writes a marker
// (adoption, or the syncer's repair) writes the body back with it in the
// PATCH of the other fields: one write per issue. FindByMarker reads back an issue the
// connector has listed or written with the marker; any other answer comes
// from GitHub, since another replica or this daemon before a restart may
// have made the issue: first the issues the token's user created recently
// (a consistent listing that sees a create made a second ago), then the
// search API, which finds older and adopted issues but is eventually
// consistent: it misses issues created or edited within the last minute
// or so. Once this connector has itself listed the whole repository (the
// first poll from an empty cursor, in this process), the search is
// skipped: an older issue with the marker would have been in that
// listing. That keeps an initial projection of hundreds of items off the
// search API. A marker a person copies onto another issue is learnt from
// the next listing.
//
// # Change detection and quota
//
// Changes lists issues with since/sort=updated and a cursor that stays a
// few seconds behind the newest updated_at seen, dropping (number,
// updated_at) pairs it already returned. When a whole page shares one
// second, that second is paged through with sort=created instead: page
// numbers in update order would skip an issue each time one already read
// is edited and moves to the end, and creation order does not move. Its
// pages overlap by a few issues (GitHub pages by number, so the page size
// varies a little to let a page start before the last one ended), so an
// issue deleted or transferred during the pass does not shift another
// between two pages. The cursor then never passes GitHub's clock (Date)
// at the start of that pass, so an edit made behind it is listed next
// time. Pairs are told
// apart by a digest of the issue too: an edit in the second the issue was
// last listed keeps its updated_at, and is still returned. Once GitHub's
// clock is a lag past the newest update, the window moves past it, where
// it is empty and stays put, so a burst of more than a page in one second
// does not keep every poll paging. The first page of a listing is
// requested with If-None-Match, so an idle poll is answered 304 Not
// Modified, which GitHub does not count against the rate limit; the
// first poll after a change pays one request to learn the new window's
// ETag.
//
// Rate limits follow GitHub's documentation
// (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
// Classify reads the primary (X-RateLimit-Remaining: 0 until
// X-RateLimit-Reset) and secondary (403/429 "secondary rate limit",
// Retry-After or at least a minute, then exponential) forms; the target
// is paused before the quota runs out; writes are serialized, every
// write (POST, PATCH, PUT, DELETE) paced at 60 a minute after a burst of
// 10 (GitHub asks for a second between them), and content-creating
// requests under 80 a minute and 500 an hour.
//
// # Webhooks
//
// ParseWebhook checks X-Hub-Signature-256 in constant time and turns
// issues, issue_comment and sub_issues events into the issues to re-read
// (the sub-issue and its parent); deleted and transferred issues are
// reported as deletions, pings and pull requests as nothing to do. The
// daemon serves it at /webhooks/{target}: a refused delivery is a 401 and
// queues nothing, a repeated X-GitHub-Delivery is dropped, and polling
// repairs what GitHub failed to deliver (it does not retry).
//
// # Markup
//
// Canonical Markdown and GitHub Flavored Markdown are the same language:
// bodies and comments pass through this connector unchanged. Mentions
// and #123 references are mapped or neutralised by the mapping layer
// (mapping/comments.go): @alice becomes the user map's login, anyone
// else's mention and a #123 from another tracker get a zero-width space
// after the sigil, and what a person typed on GitHub is kept as typed.
package github
