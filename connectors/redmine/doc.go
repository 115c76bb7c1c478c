// Package redmine is the connector for Redmine projects (5.0 and later),
// over Redmine's REST JSON API on the shared retrying client
// (connectors/transport).
//
// # Records
//
// One issue is one record; ID is the issue id, Key "#12". Native field
// names: subject, description, tracker, status, priority, assigned_to
// (login; a display name is accepted on write, and is what a non-admin
// key reads), category, fixed_version, parent (parent issue id), start_date
// and due_date (YYYY-MM-DD), estimated_hours, estimated_days (the same
// Redmine field in days of hours_per_day), done_ratio (0..100), author
// (read-only), and every issue custom field by its name ("Phase"), except
// the marker field. Records carry names, never ids: trackers, statuses,
// priorities, categories, versions, users and custom fields are resolved
// by name at start and listed in Capabilities so a config naming a value
// that does not exist is refused before anything is written.
//
// Comments are journals with notes; a private note is an internal
// comment. Editing a note uses PUT /journals/ID.json (Redmine 5.0+, needs
// the "Edit notes" permission). Redmine has no DELETE for journals:
// DeleteComment empties the note, and Redmine then deletes the journal,
// or keeps it without the note when it also records field changes.
// Editing a note does not change the updated_on, so Changes does
// not see it; the syncer's periodic full sweep does.
//
// # Settings
//
//	settings:
//	  url: https://redmine.example.com
//	  api_key: env:REDMINE_API_KEY   # secret reference; admin keys see logins and all custom fields
//	  project: lab-portal            # project identifier
//	  marker_field: External ID      # issue custom field (Text, "Used as a filter")
//	  requests_per_second: 5         # client-side pacing; Redmine has no limits of its own
//	  page_size: 100                 # 1..100
//	  hours_per_day: 8               # estimated_days = estimated_hours / hours_per_day
//
// # Redmine's quirks, and what the connector does about them
//
//   - Every PUT bumps updated_on, even one that changes nothing: Update
//     reads the issue, diffs, and sends only what differs, or nothing.
//   - Create ignores status_id: the issue is created, then its status set.
//   - A custom field's value is dropped, without an error, on an issue of
//     a tracker (or project) the field is not enabled for. With an admin
//     key the connector knows the marker field's trackers and refuses such
//     a create before sending it; otherwise it deletes an issue that came
//     back without its marker (the syncer would adopt it as a duplicate)
//     and reports a terminal error. An Update that writes the marker
//     sends it in the PUT of the other fields and reads it back.
//   - A tracker, a status and a priority are required: a blank priority
//     is refused (422), a blank tracker or status silently ignored. Blank
//     ones are never sent, so an item without them takes Redmine's
//     defaults (and reads back with them).
//   - The API does not expose lock_version, and updated_on has whole
//     seconds, so the record's version is its updated_on and a digest of
//     its fields and marker (two edits in one second still differ); Update
//     refuses a stale one with connectors.ErrConflict, and so does a 422
//     with an empty error list (Redmine's answer to a concurrent save).
//     Notes are not in the digest, since listings do not show them: adding
//     one moves updated_on, but a note added in the second of the change
//     before it, like a note edited in place, is only seen by Get.
//   - Changes polls issues.json with updated_on>=T (whole UTC seconds,
//     which Redmine runs as "> T-1s": windows overlap by a second),
//     status_id=* (closed issues are hidden otherwise), sort=updated_on and
//     limit/offset paging. The cursor keeps the (id, updated_on, digest)
//     of the overlap, so nothing is returned twice, and an edit within the
//     second of the one returned is returned again. Conditional GETs with
//     Redmine's weak ETags make an idle poll a 304.
//   - Many issues can share one updated_on (bulk edits; on MySQL times
//     are whole seconds). A second that fills more than a page is paged
//     with sort=id, which edits do not reorder: paged by offset in update
//     order, every edit of an issue already read would skip another.
//   - The idempotency marker is an issue custom field ("External ID");
//     FindByMarker filters on it exactly (cf_N=BL-42, status_id=*).
//     Redmine ignores that filter, silently, on a field not "Used as a
//     filter", which a key without admin rights cannot check at start:
//     an answer listing an issue with another marker is a terminal error
//     saying to tick it, never "not found" (which would duplicate).
//   - 422 answers {"errors": [...]}: a terminal error quoting them and
//     naming the issue. 401 and 403 are terminal with a hint about the API
//     key and the REST setting (401 scoped to the whole target, 403 to
//     the endpoint); 404 is connectors.ErrNotFound.
//   - A note is added with PUT /issues/N.json {notes}: unlike other PUTs,
//     sending it twice adds it twice, so it is marked
//     transport.NotIdempotent and never retried when its answer is lost
//     or a 5xx; the failure goes back to the syncer, which links the note
//     by its body on the next reconcile instead of adding another.
//   - Descriptions and notes are stored with CRLF line ends; records use LF.
//   - No webhooks and no rate limiting in core: polling only, paced
//     client-side; a 429 or a 503 with Retry-After from a reverse proxy
//     pauses the target.
//
// Package redminefake is an in-process fake of the same API for tests and
// the demo; the behaviour tests run against it and, when
// BACKLOGD_REDMINE_URL and BACKLOGD_REDMINE_API_KEY are set (see
// scripts/redmine-up.sh), against a real Redmine.
package redmine
