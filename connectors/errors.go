package connectors

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. Connectors wrap them with context
// (fmt.Errorf("github: get #%s: %w", id, ErrNotFound)); test with errors.Is.
var (
	// ErrNotFound: the record (or comment) does not exist, or no longer does.
	ErrNotFound = errors.New("not found")
	// ErrConflict: an optimistic-lock check failed; re-read and merge again.
	ErrConflict = errors.New("version conflict")
	// ErrUnsupported: the tracker cannot do this (see Capabilities).
	ErrUnsupported = errors.New("not supported by this tracker")
	// ErrBadSignature: a webhook delivery was unsigned or wrongly signed.
	ErrBadSignature = errors.New("webhook signature missing or wrong")
)

// Scope says how much of a target a rate limit or a refusal covers.
type Scope string

// Scopes, from widest to narrowest.
const (
	// ScopeTarget: pause every request to the target (quota exhausted).
	ScopeTarget Scope = "target"
	// ScopeEndpoint: slow one endpoint and method (Jira burst limits).
	ScopeEndpoint Scope = "endpoint"
	// ScopeRecord: space out writes to one record (Jira per-issue writes).
	ScopeRecord Scope = "record"
)

// RateLimitError says the tracker asked us to slow down. The syncer pauses
// the scope it names until RetryAfter has passed, and other targets keep
// going.
type RateLimitError struct {
	RetryAfter time.Duration
	Scope      Scope
	// Reason is the tracker's own explanation (RateLimit-Reason,
	// "secondary rate limit"), for logs.
	Reason string
}

func (e *RateLimitError) Error() string {
	s := fmt.Sprintf("rate limited for %s", e.RetryAfter.Round(time.Second))
	if e.Scope != "" && e.Scope != ScopeTarget {
		s += " (" + string(e.Scope) + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// TerminalError is an error retrying will never fix: bad credentials, a
// value the tracker refuses, a workflow transition that needs a field the
// mapping does not supply. The syncer parks the key with Err's message
// instead of retrying, until the config or the item changes.
type TerminalError struct {
	Err error
	// Scope says how much of the target the refusal covers, so the syncer
	// can tell a failing target from a failing item:
	//   - ScopeTarget: every request is refused alike (the tracker refused
	//     the credentials, HTTP 401); the whole target is failing;
	//   - ScopeEndpoint: requests of this kind are refused (HTTP 403: a
	//     permission the token lacks). Trackers answer so for one record
	//     too (a locked issue), so one such refusal is the item's, and
	//     several in a row with no write succeeding are the target's;
	//   - "" or ScopeRecord: this record or its values (a 422, a field the
	//     tracker refuses); never more than the item.
	Scope Scope
}

func (e *TerminalError) Error() string { return e.Err.Error() }
func (e *TerminalError) Unwrap() error { return e.Err }

// Terminal wraps err as a TerminalError (nil stays nil).
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &TerminalError{Err: err}
}

// Terminalf formats a TerminalError.
func Terminalf(format string, args ...any) error {
	return &TerminalError{Err: fmt.Errorf(format, args...)}
}

// ScopedTerminalf formats a TerminalError covering scope: ScopeTarget for
// refused credentials, ScopeEndpoint for a permission the token lacks.
func ScopedTerminalf(scope Scope, format string, args ...any) error {
	return &TerminalError{Err: fmt.Errorf(format, args...), Scope: scope}
}

// TerminalScope returns the scope of the terminal error in err: the first
// one a TerminalError in its chain names (a terminal error wrapped as
// terminal again keeps its scope), or ScopeRecord. ok is false when err
// is not terminal.
func TerminalScope(err error) (scope Scope, ok bool) {
	var t *TerminalError
	for errors.As(err, &t) {
		ok = true
		if t.Scope != "" {
			return t.Scope, true
		}
		err = t.Err
	}
	if ok {
		return ScopeRecord, true
	}
	return "", false
}

// IsTerminal reports whether err (or anything it wraps) is terminal.
func IsTerminal(err error) bool {
	var t *TerminalError
	return errors.As(err, &t)
}

// RetryAfter returns how long to wait when err is a rate limit.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RateLimitError
	if errors.As(err, &r) {
		return r.RetryAfter, true
	}
	return 0, false
}
