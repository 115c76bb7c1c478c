// Package file is the connector for a tracker that is a directory of YAML
// files, one per record: backlog-as-code that a product owner keeps in
// git and edits by hand, the home backlog of the demo, and the stand-in
// client trackers of the offline config.
//
// # Settings
//
//	settings:
//	  dir: ./data/home     # default <data_dir>/<target name>; created if missing
//	  page_size: 100       # records per Changes page, 1..10000
//
// # Files
//
// Every file <dir>/<id>.yaml is a record whose ID (and Key) is the file
// name without .yaml. backlogd names the files it creates after the
// canonical id (BL-42.yaml, or BL-42-2.yaml when that name is taken); a
// file a person adds by hand under any name (login-bug.yaml) is a record
// too. Hidden files (a leading dot, which backlogd's own temporary files
// have) and other extensions are ignored; a .yml file gets a warning
// asking to rename it. Renaming a file gives the record a new ID: the
// syncer finds it again by its marker.
//
// A file is a YAML mapping:
//
//	# Backlog item synced by backlogd. Edit any field; keep the id line.
//	# backlogd maintains created, updated and version.
//
//	id: BL-42
//	kind: bug
//	title: Login fails on Safari
//	status: in_progress
//	teams:
//	  - web
//	labels:
//	  - checkout
//	estimate.points: 3
//	description: |
//	  Steps:
//	  1. open the login page
//	acceptance:
//	  - Works in Safari 17
//	notes: call Bob before the demo   # a person's own key: a field like any other
//	comments:
//	  - id: c1
//	    author: alice
//	    created: 2024-05-01T10:00:00Z
//	    internal: true              # only on the product owner's side
//	    body: |
//	      Seen on macOS too.
//	created: 2024-05-01T09:00:00Z
//	updated: 2024-05-02T11:30:00Z
//	version: 3f2a9c1b7e4d5a60
//
// Five top-level keys belong to backlogd; no field may use their names:
//
//   - id: the idempotency marker, the canonical id of the backlog item the
//     file is linked to. A file without it is a candidate for adoption;
//     backlogd writes it back when it adopts the file.
//   - comments: a list of comments, each with id, author, created,
//     optional updated, optional internal (true or false) and body. A
//     comment written by hand without an id gets one derived from its
//     content, which backlogd writes into the file on its next write.
//   - created, updated: RFC 3339 times (2024-05-01T10:00:00Z; a date
//     alone is midnight UTC). A file without created reports its
//     modification time until backlogd first writes it.
//   - version: the content hash backlogd computed when it last wrote the
//     file. Nobody needs to touch it.
//
// Every other key is a native field, under its own name (the offline
// config's clients use the canonical names, `fields: identity` for the
// home backlog). A scalar is one value and a list of scalars several.
// Values are read as the text written, so 3, 2024-05-01 and true stay
// that text; an empty value, ~ or null means unset. A nested mapping holds
// dotted fields: `estimate: {points: 3}` is the field estimate.points.
// Anything else (a list of mappings, an alias) is an error. The parent
// key holds the parent record's id as written by the mapping; that is the
// connector's hierarchy.
//
// backlogd writes labels, teams, clients and acceptance as lists even
// with one value, any field with several values as a list, and a field a
// person wrote as a list stays one. New files list the marker, the
// canonical fields in a fixed order, other fields by name, then comments
// and the bookkeeping keys. An update edits the YAML tree in place: the
// keys it does not name, a person's comments and own keys, their order
// and quoting stay as they are (indentation becomes two spaces). Every
// write is read back and compared before it lands, so a value YAML cannot
// hold as given is an error, never a silent change.
//
// # Versions and hand edits
//
// A record's Version is a hash of the file's bytes without the version
// line, so it changes with every edit, including a hand edit that bumps
// nothing. While it equals the version key the file is as backlogd wrote
// it and Updated is the updated key; after a hand edit Updated is the
// file's modification time. Update with a version refuses a stale one
// with connectors.ErrConflict, and also refuses (ErrConflict) when the
// file changes on disk between its read and its write, so a person's
// save is never overwritten with older content.
//
// # Broken files
//
// A file that does not parse (invalid YAML, a field of the wrong shape, a
// time that is not a time) is skipped by Changes with a warning that
// names file:line and what to fix; Get, Update and every other write on
// it return a TerminalError that says so, and the file is never
// overwritten until it parses again. FindByMarker refuses (terminal) to
// report "not found" for a marker that a broken file seems to carry, so a
// broken file never leads to a duplicate.
//
// # Writes and crashes
//
// Every write goes to a hidden temporary file in the same directory,
// which is fsynced, moved over the file (a create links it into place so
// it never replaces a file), and the directory fsynced: a process killed
// at any moment leaves the old file or the new one, whole, and at most a
// temporary file, which New removes once it is ten minutes old. Writes
// within one process are serialized.
//
// # Change detection
//
// Changes lists files by change time, max(mtime, ctime), oldest first,
// page_size at a time. The cursor holds the change time listed up to and
// the content hash of each file listed in the last two seconds before it
// (the overlap that absorbs coarse timestamps), so it survives restarts,
// never lists the same content twice and never loses a file written
// while a listing runs. An idle poll is one ReadDir and one lstat per
// file: the index remembers each file's stat data and hash, reads a file
// only when its stat data moved (or was taken too close to the change to
// trust) and parses it only when its content is new; a poll that finds
// nothing returns the cursor it was given. The cursor grows by about 40
// bytes for each file changed within two seconds of the newest change (a
// git checkout of 1,000 files makes it some 40 kB until the next edit).
// Deleted files are not reported; Get returns connectors.ErrNotFound for
// them. Where the system has no inode change time (Windows), a tool that
// restores an old mtime can hide a change until the syncer's sweep.
//
// FindByMarker refreshes the same index from stat data, so it sees a file
// written a moment ago by anyone, and parses only files that changed
// since it last looked.
package file
