package connectors

import "time"

// Observer receives what connectors see on the wire, for metrics. The
// daemon's metrics implement it; a nil Observer in Env means "discard".
// Implementations must be cheap and safe for concurrent use.
type Observer interface {
	// Request is called once per HTTP request with its method class
	// ("read" or "write"), status code (0 for a transport error) and latency.
	Request(target, class string, status int, d time.Duration)
	// RateLimit reports the tracker's remaining quota and when it resets
	// (remaining < 0 when the tracker does not say).
	RateLimit(target string, remaining int, reset time.Time)
	// Paused reports that the target (or part of it) is paused until t.
	Paused(target string, until time.Time)
}

// NopObserver discards everything.
type NopObserver struct{}

// Request implements Observer.
func (NopObserver) Request(string, string, int, time.Duration) {}

// RateLimit implements Observer.
func (NopObserver) RateLimit(string, int, time.Time) {}

// Paused implements Observer.
func (NopObserver) Paused(string, time.Time) {}

// Observers hands every signal to each of its observers in turn (the
// metrics and the status page's quota book, say).
type Observers []Observer

// Request implements Observer.
func (obs Observers) Request(target, class string, status int, d time.Duration) {
	for _, o := range obs {
		o.Request(target, class, status, d)
	}
}

// RateLimit implements Observer.
func (obs Observers) RateLimit(target string, remaining int, reset time.Time) {
	for _, o := range obs {
		o.RateLimit(target, remaining, reset)
	}
}

// Paused implements Observer.
func (obs Observers) Paused(target string, until time.Time) {
	for _, o := range obs {
		o.Paused(target, until)
	}
}
