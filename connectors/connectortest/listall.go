package connectortest

import (
	"context"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

// ListAll pages c's changes from no cursor until a page says there are
// no more, and returns how many records came and the largest size of
// any cursor on the way, as size measures it (a connector's own reading
// of its cursor, such as how many returned records it remembers): what
// a connector's test needs to bound how much its cursors carry.
func ListAll(t testing.TB, c connectors.Connector, size func(cursor string) (int, error)) (listed, largest int) {
	t.Helper()
	cursor := ""
	for range 1000 {
		p, err := c.Changes(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(p.Records)
		cursor = p.Cursor
		n, err := size(cursor)
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, n)
		if !p.More {
			return listed, largest
		}
	}
	t.Fatal("Changes still had more after 1000 pages")
	return listed, largest
}
