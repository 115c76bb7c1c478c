// Package markup converts between backlogd's canonical Markdown and the two
// markups Jira speaks: the Atlassian Document Format (ADF, the JSON
// documents of Jira Cloud's REST API v3) and Jira wiki markup (the text of
// Jira Data Center's REST API v2).
//
// Every conversion goes through one small document tree: Markdown is
// parsed with goldmark (CommonMark plus GFM tables and strikethrough), ADF
// is decoded from JSON and wiki markup is parsed by hand; each tree is then
// rendered into the other language. The Markdown renderer writes one
// canonical spelling (ATX headings, "-" bullets, "*em*", "**strong**",
// fenced code, GFM tables, a soft line break for every line break) and
// escapes only what would otherwise change meaning, so text written that
// way comes back from Jira byte for byte: the round-trip corpus in
// testdata/corpus has zero drift through both markups.
//
// What Jira cannot hold is normalised once and is then stable:
//
//   - other Markdown spellings ("*" bullets, "__strong__", setext
//     headings, indented code, reference links, loose lists of single
//     paragraphs) come back in the canonical spelling;
//   - ADF forbids combining inline code with other marks, so the code
//     keeps its link and loses bold or italics; ADF quotes hold no
//     headings, tables or nested quotes (their text is kept as paragraphs);
//   - wiki lists have no start number and wiki quotes do not nest;
//   - raw HTML is kept as literal text, except <br>, which is a line
//     break;
//   - Jira-only constructs (panels, expands, status lozenges, emoji,
//     dates, colours, underline) become their text.
//
// Mentions are resolved through a Mentions the caller provides: "@name"
// in Markdown becomes a Jira mention when the name is a known user, and a
// Jira mention becomes "@name" again. Converters never fail on input:
// whatever a tracker or a person wrote, they return text.
package markup
