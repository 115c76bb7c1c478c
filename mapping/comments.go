package mapping

import (
	"regexp"
	"strings"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
)

// mentionRE finds @name mentions: an @ not preceded by a word character
// or another @ (so e-mail addresses are left alone), and a name that ends
// on a letter or digit (so "@alice." ends a sentence, not a name).
var mentionRE = regexp.MustCompile(`(^|[^\p{L}\p{N}_@.])@([\p{L}\p{N}](?:[\p{L}\p{N}._-]*[\p{L}\p{N}])?)`)

// neutral is inserted after the @ of a mention backlogd must not deliver:
// U+200B ZERO WIDTH SPACE keeps the text readable while no tracker
// recognises it as a mention.
const neutral = "@\u200b"

// CommentAllowed reports whether a canonical comment may reach the
// tracker (never an internal one unless InternalComments).
func (c *Client) CommentAllowed(cm backlog.Comment) bool {
	return !cm.Internal() || c.InternalComments
}

// ToComment renders a canonical comment for the tracker (author through
// the user map, mentions mapped or neutralised).
//
// A mention of a mapped user (@alice) becomes the tracker's name
// (@alice-acme) and notifies them; any other mention becomes @\u200bname,
// so a namesake in the client's tracker is never pinged. FromComment
// undoes both.
func (c *Client) ToComment(cm backlog.Comment) connectors.Comment {
	author := cm.Author
	if u, ok := c.Users[author]; ok {
		author = u
	}
	body := mentionRE.ReplaceAllStringFunc(cm.Body, func(s string) string {
		m := mentionRE.FindStringSubmatch(s)
		if u, ok := c.Users[m[2]]; ok {
			return m[1] + "@" + u
		}
		return m[1] + neutral + m[2]
	})
	return connectors.Comment{
		Author:   author,
		Body:     body,
		Created:  cm.Created,
		Internal: cm.Internal(),
	}
}

// FromComment reads a tracker comment as a canonical one (visibility
// internal when the tracker comment is internal, else client). The author
// and mentions of mapped tracker users come back as canonical names, and
// neutralised mentions are restored. The id is left for the syncer.
func (c *Client) FromComment(rc connectors.Comment) backlog.Comment {
	rev := make(map[string]string, len(c.Users))
	for k, v := range c.Users {
		rev[v] = k
	}
	author := rc.Author
	if u, ok := rev[author]; ok {
		author = u
	}
	body := strings.ReplaceAll(rc.Body, neutral, "@")
	body = mentionRE.ReplaceAllStringFunc(body, func(s string) string {
		m := mentionRE.FindStringSubmatch(s)
		if u, ok := rev[m[2]]; ok {
			return m[1] + "@" + u
		}
		return s
	})
	vis := backlog.VisibilityClient
	if rc.Internal {
		vis = backlog.VisibilityInternal
	}
	return backlog.Comment{
		Author:     author,
		Body:       body,
		Created:    rc.Created.UTC(),
		Visibility: vis,
	}
}
