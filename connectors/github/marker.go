package github

import (
	"regexp"
	"strings"
)

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
