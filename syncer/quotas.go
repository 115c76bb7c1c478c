package syncer

import (
	"sync"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// Quotas remembers the rate-limit headroom each target's tracker last
// reported, for `backlogd status`. It is a connectors.Observer: the
// daemon hands it to the connectors beside the metrics, and to the
// syncer through Options.Quotas.
type Quotas struct {
	mu sync.Mutex
	m  map[string]Quota
}

// Quota is a tracker's last reported rate-limit headroom.
type Quota struct {
	// Remaining is the requests left in the current window.
	Remaining int       `json:"remaining"`
	Reset     time.Time `json:"reset,omitzero"`
	// At is when the tracker said so.
	At time.Time `json:"at"`
}

var _ connectors.Observer = (*Quotas)(nil)

// Request implements connectors.Observer; requests are the metrics' business.
func (q *Quotas) Request(string, string, int, time.Duration) {}

// Paused implements connectors.Observer; the queue knows its pauses.
func (q *Quotas) Paused(string, time.Time) {}

// RateLimit implements connectors.Observer.
func (q *Quotas) RateLimit(target string, remaining int, reset time.Time) {
	if remaining < 0 {
		return // the tracker did not say
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[string]Quota{}
	}
	q.m[target] = Quota{Remaining: remaining, Reset: reset.UTC(), At: time.Now().UTC()}
}

// Of returns target's last reported quota, if it reported one.
func (q *Quotas) Of(target string) (Quota, bool) {
	if q == nil {
		return Quota{}, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	v, ok := q.m[target]
	return v, ok
}
