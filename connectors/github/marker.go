package github

import (
	"regexp"
	"strings"
)

// markerIndex lets FindByMarker answer from what the connector listed
// and wrote itself. The syncer asks before every create whether the item
// already has an issue; asked of GitHub, that is a scan of the token
// user's recent issues and a search (30 a minute, and eventually
// consistent) per item: an initial projection of 150 items would make
// 150 searches. The index holds only what this connector saw, so it
// answers "yes" (an issue is read back to confirm) but never "no" alone:
// another replica, or this daemon before a restart, may have created
// issues since. Guarded by Connector.mu.
type markerIndex struct {
	// byMarker maps a marker to the lowest issue number seen carrying it
	// (the original, when a person copied a body into a new issue).
	byMarker map[string]int
	// complete is set once a listing from the start of the repository
	// (Changes from cursor "") ran from its first page to caught up in
	// this connector (cursor.Pass): every issue made before it was
	// listed here. A marker not in byMarker is then on no issue older
	// than that listing, and FindByMarker skips the search API; issues
	// made since are found by the scan of the token user's recent ones.
	complete bool
	// uncertain holds the markers of creates whose outcome is unknown (a
	// lost answer, a 5xx): GitHub may hold an issue the index does not,
	// so those are always looked up the slow way.
	uncertain map[string]bool
}

// note records that issue n carries marker; c.mu is held.
func (x *markerIndex) note(marker string, n int) {
	if cur, ok := x.byMarker[marker]; !ok || n < cur {
		x.byMarker[marker] = n
	}
}

// The idempotency marker is a hidden HTML comment at the end of the body:
// GitHub renders nothing for it, the search API indexes it, and it
// survives edits made in the web UI unless a user deletes it on purpose.
const (
	markerPrefix = "<!-- backlogd:id="
	markerSuffix = " -->"
)

// markerRE matches a marker with up to two line breaks before it (the
// ones appendMarker adds; the web UI turns them into CRLF).
var markerRE = regexp.MustCompile(`(?:\r?\n){0,2}<!-- backlogd:id=([A-Za-z0-9._:-]+) -->`)

// markerComment returns the marker comment for canonical id.
func markerComment(id string) string { return markerPrefix + id + markerSuffix }

// validMarker reports whether id can be stored in a marker.
func validMarker(id string) bool {
	return id != "" && markerRE.MatchString(markerComment(id))
}

// parseBody splits an issue body into what users see and the canonical id
// of its first marker ("" when there is none). Every marker is removed,
// so a body never carries one into the canonical description.
func parseBody(body string) (text, marker string) {
	if m := markerRE.FindStringSubmatch(body); m != nil {
		marker = m[1]
	}
	if marker == "" {
		return body, ""
	}
	return markerRE.ReplaceAllString(body, ""), marker
}

// appendMarker returns text with the marker for id at its end ("" id:
// text unchanged).
func appendMarker(text, id string) string {
	if id == "" {
		return text
	}
	if text == "" {
		return markerComment(id)
	}
	return text + "\n\n" + markerComment(id)
}

// searchPhrase is the phrase the search API is asked for: the tokens of
// the marker, which the index keeps though the comment is hidden.
func searchPhrase(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(markerComment(id), "<!-- "), markerSuffix)
}
