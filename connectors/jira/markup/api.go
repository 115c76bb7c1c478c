package markup

// ToADF converts canonical Markdown into an ADF document (JSON), the body
// of descriptions and comments in Jira Cloud's REST API v3.
func ToADF(md string, m Mentions) []byte {
	return renderADF(parseMarkdown(md, m))
}

// FromADF converts an ADF document into canonical Markdown. It fails only
// when doc is not JSON; nodes it does not know are kept as their text.
func FromADF(doc []byte, m Mentions) (string, error) {
	bs, err := parseADF(doc)
	if err != nil {
		return "", err
	}
	return renderMarkdown(bs, m), nil
}

// ToWiki converts canonical Markdown into Jira wiki markup, the body of
// descriptions and comments in Jira Data Center's REST API v2.
func ToWiki(md string, m Mentions) string {
	return renderWiki(parseMarkdown(md, m), m)
}

// FromWiki converts Jira wiki markup into canonical Markdown.
func FromWiki(wiki string, m Mentions) string {
	return renderMarkdown(parseWiki(wiki, m), m)
}

// Normalize returns md in canonical spelling: what a round trip through
// either Jira markup gives back for text Jira can hold.
func Normalize(md string, m Mentions) string {
	return renderMarkdown(parseMarkdown(md, m), m)
}

// MarkdownMentions lists the names after "@" in md that may be mentions,
// so a caller can resolve them before converting.
func MarkdownMentions(md string) []string {
	var names []string
	seen := map[string]bool{}
	rest := md
	for {
		i, j := nextMention(rest)
		if i < 0 {
			return names
		}
		if n := rest[i+1 : j]; !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
		rest = rest[j:]
	}
}

// ADFMentions lists the account ids an ADF document mentions.
func ADFMentions(doc []byte) []string { return adfMentionIDs(doc) }

// WikiMentions lists the user names a wiki text mentions ([~name]).
func WikiMentions(wiki string) []string { return wikiMentionIDs(wiki) }
