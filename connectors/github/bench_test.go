package github

import (
	"context"
	"fmt"
	"testing"

	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

// BenchmarkChangesImport150 measures listing 150 issues from scratch
// against the in-process fake (client, transport and decoding costs).
func BenchmarkChangesImport150(b *testing.B) {
	c, srv := newFake(b, githubfake.Options{Now: fixedClock()})
	for i := 0; i < 150; i++ {
		srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i), Body: "text", Labels: []string{"a", "b"}})
	}
	b.ResetTimer()
	for b.Loop() {
		if ids, _ := drain(b, c, ""); len(ids) != 150 {
			b.Fatalf("%d issues", len(ids))
		}
	}
}

// BenchmarkGetUnchanged measures a conditional re-read of one issue.
func BenchmarkGetUnchanged(b *testing.B) {
	c, srv := newFake(b, githubfake.Options{})
	srv.AddIssue(githubfake.Issue{Title: "x"})
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Get(ctx, "1"); err != nil {
			b.Fatal(err)
		}
	}
}
