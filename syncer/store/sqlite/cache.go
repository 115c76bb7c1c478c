package sqlite

import (
	"bytes"
	"slices"
	"sync"

	"github.com/backlogd/backlogd/backlog"
)

// itemCacheSize bounds the decoded items kept, about 3 KiB each.
const itemCacheSize = 4096

// itemCache keeps items decoded from their JSON, keyed by id and checked
// against the exact bytes read: decoding an item costs more than the SQL
// that reads it, and the syncer reads the same items over and over (one
// reconcile per target, then the fan-out). A hit needs the stored bytes
// to be equal, so the cache can never return anything the row does not
// hold, whoever wrote it and whether or not that transaction committed.
type itemCache struct {
	mu sync.Mutex
	m  map[string]cachedItem
}

type cachedItem struct {
	data []byte
	item backlog.Item
}

func newItemCache() *itemCache { return &itemCache{m: make(map[string]cachedItem)} }

// get returns a copy of the item decoded from data, if cached.
func (c *itemCache) get(id string, data []byte) (backlog.Item, bool) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.data, data) {
		return backlog.Item{}, false
	}
	return e.item.Clone(), true
}

// put keeps it as decoded from data; neither may be changed afterwards.
func (c *itemCache) put(id string, data []byte, it backlog.Item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok && len(c.m) >= itemCacheSize {
		// Drop an eighth, chosen by map order (which is random): cheap,
		// and a hot item evicted is back at its next read.
		n := itemCacheSize / 8
		for k := range c.m {
			delete(c.m, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.m[id] = cachedItem{data: data, item: it}
}

// listCache keeps the committed content of a small table (open conflicts,
// pending intents), which the syncer lists in every reconcile, with the
// table version it was read at (schema step 2: triggers bump the version
// in every transaction that changes the table). A reader whose snapshot
// shows the same version gets the same list without reading the rows.
// Only transactions that have not written use it: their view is
// committed state, where a version names exactly one content.
type listCache[T any] struct {
	mu      sync.Mutex
	valid   bool
	version int64
	list    []T
}

// get returns a copy of the list at version, if cached.
func (c *listCache[T]) get(version int64) ([]T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.version != version {
		return nil, false
	}
	return slices.Clone(c.list), true
}

// put keeps a copy of list as read at version, unless a later version is
// already kept (a reader on an older snapshot may finish last).
func (c *listCache[T]) put(version int64, list []T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.version > version {
		return
	}
	c.valid, c.version, c.list = true, version, slices.Clone(list)
}
