package backlog

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what sort of work an item describes.
type Kind string

// The kinds of item the canonical backlog knows.
const (
	Epic  Kind = "epic"
	Story Kind = "story"
	Bug   Kind = "bug"
	Task  Kind = "task"
)

// Kinds lists every valid Kind, in display order.
var Kinds = []Kind{Epic, Story, Bug, Task}

// Status is the canonical workflow state of an item.
type Status string

// The canonical workflow states.
const (
	Todo       Status = "todo"
	InProgress Status = "in_progress"
	InReview   Status = "in_review"
	Done       Status = "done"
	Cancelled  Status = "cancelled"
)

// Statuses lists every valid Status, in workflow order.
var Statuses = []Status{Todo, InProgress, InReview, Done, Cancelled}

// Phase is the stage of the client project an item belongs to.
type Phase string

// The phases a client project goes through.
const (
	Kickoff       Phase = "kickoff"
	Build         Phase = "build"
	TestFeedback  Phase = "test_feedback"
	Consolidation Phase = "consolidation"
	Launch        Phase = "launch"
)

// Phases lists every valid Phase, in project order.
var Phases = []Phase{Kickoff, Build, TestFeedback, Consolidation, Launch}

// Priority is the canonical urgency of an item.
type Priority string

// The canonical priorities, lowest first.
const (
	Lowest  Priority = "lowest"
	Low     Priority = "low"
	Medium  Priority = "medium"
	High    Priority = "high"
	Highest Priority = "highest"
)

// Priorities lists every valid Priority, lowest first.
var Priorities = []Priority{Lowest, Low, Medium, High, Highest}

// Visibility says who may see a comment.
type Visibility string

// Comment visibilities: client comments may reach client trackers,
// internal ones never leave the product owner's side.
const (
	VisibilityClient   Visibility = "client"
	VisibilityInternal Visibility = "internal"
)

// Money is an amount in one currency. Amount is a decimal string
// ("12500.50") so that no float rounding ever touches a price.
type Money struct {
	Amount   string `json:"amount" yaml:"amount"`
	Currency string `json:"currency" yaml:"currency"`
}

// IsZero reports whether m holds no amount.
func (m Money) IsZero() bool { return m.Amount == "" && m.Currency == "" }

// String renders m as "12500.50 EUR", the form used in field values.
func (m Money) String() string {
	if m.IsZero() {
		return ""
	}
	return m.Amount + " " + m.Currency
}

var (
	amountRE   = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,4})?$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// ParseMoney reads "12500.50 EUR".
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Money{}, nil
	}
	amount, currency, ok := strings.Cut(s, " ")
	m := Money{Amount: amount, Currency: strings.TrimSpace(currency)}
	if !ok {
		return Money{}, fmt.Errorf("money %q: want \"<amount> <ISO currency>\", e.g. \"1200.50 EUR\"", s)
	}
	return m, m.Validate()
}

// Validate checks the amount is a decimal and the currency an ISO 4217 code.
func (m Money) Validate() error {
	if m.IsZero() {
		return nil
	}
	if !amountRE.MatchString(m.Amount) {
		return fmt.Errorf("amount %q is not a decimal number like 1200.50", m.Amount)
	}
	if !currencyRE.MatchString(m.Currency) {
		return fmt.Errorf("currency %q is not a three-letter ISO 4217 code like EUR", m.Currency)
	}
	return nil
}

// Estimate is the effort an item is expected to take.
type Estimate struct {
	// Effort is in person-days.
	Effort float64 `json:"effort,omitempty" yaml:"effort,omitempty"`
	// Points are story points.
	Points float64 `json:"points,omitempty" yaml:"points,omitempty"`
	// Cost is what the item costs; private by default in client mappings.
	Cost Money `json:"cost,omitzero" yaml:"cost,omitempty"`
}

// Comment is one message of an item's discussion or client feedback.
type Comment struct {
	// ID is stable within the item (c1, c2, ...).
	ID         string     `json:"id" yaml:"id"`
	Author     string     `json:"author" yaml:"author"`
	Created    time.Time  `json:"created" yaml:"created"`
	Body       string     `json:"body" yaml:"body"`
	Visibility Visibility `json:"visibility" yaml:"visibility"`
	// Deleted marks a comment removed in a tracker or by the product owner;
	// it is kept so the deletion can be propagated, and never shown.
	Deleted bool `json:"deleted,omitempty" yaml:"deleted,omitempty"`
}

// Internal reports whether the comment must stay on the product owner's side.
func (c Comment) Internal() bool { return c.Visibility != VisibilityClient }

// Item is one entry of the canonical backlog.
type Item struct {
	ID          string    `json:"id" yaml:"id"`
	Kind        Kind      `json:"kind" yaml:"kind"`
	Title       string    `json:"title" yaml:"title"`
	Description string    `json:"description,omitempty" yaml:"description,omitempty"`
	Status      Status    `json:"status" yaml:"status"`
	Phase       Phase     `json:"phase,omitempty" yaml:"phase,omitempty"`
	Teams       []string  `json:"teams,omitempty" yaml:"teams,omitempty"`
	Estimate    Estimate  `json:"estimate,omitzero" yaml:"estimate,omitempty"`
	Priority    Priority  `json:"priority,omitempty" yaml:"priority,omitempty"`
	Labels      []string  `json:"labels,omitempty" yaml:"labels,omitempty"`
	Assignee    string    `json:"assignee,omitempty" yaml:"assignee,omitempty"`
	Parent      string    `json:"parent,omitempty" yaml:"parent,omitempty"`
	Due         Date      `json:"due,omitzero" yaml:"due,omitempty"`
	Clients     []string  `json:"clients,omitempty" yaml:"clients,omitempty"`
	Acceptance  []string  `json:"acceptance,omitempty" yaml:"acceptance,omitempty"`
	Comments    []Comment `json:"comments,omitempty" yaml:"comments,omitempty"`
	// Version is the store's optimistic-concurrency counter; 0 for an item
	// never stored.
	Version int64 `json:"version" yaml:"-"`
	// Updated is when the item last changed in the canonical backlog.
	Updated time.Time `json:"updated" yaml:"-"`
}

// Clone returns a deep copy of it, so callers can edit without aliasing.
func (it Item) Clone() Item {
	c := it
	c.Teams = slices.Clone(it.Teams)
	c.Labels = slices.Clone(it.Labels)
	c.Clients = slices.Clone(it.Clients)
	c.Acceptance = slices.Clone(it.Acceptance)
	c.Comments = slices.Clone(it.Comments)
	return c
}

// HasClient reports whether the item belongs to client id.
func (it Item) HasClient(id string) bool { return slices.Contains(it.Clients, id) }

// Comment returns the comment with the given id.
func (it Item) Comment(id string) (Comment, bool) {
	for _, c := range it.Comments {
		if c.ID == id {
			return c, true
		}
	}
	return Comment{}, false
}

// NextCommentID returns an unused comment id for the item.
func (it Item) NextCommentID() string {
	n := 0
	for _, c := range it.Comments {
		var k int
		if _, err := fmt.Sscanf(c.ID, "c%d", &k); err == nil && k > n {
			n = k
		}
	}
	return fmt.Sprintf("c%d", n+1)
}

var idRE = regexp.MustCompile(`^[A-Z][A-Z0-9]*-[0-9]+$`)

// CompareIDs orders canonical ids by prefix, then by number: BL-2
// before BL-10.
func CompareIDs(a, b string) int {
	pa, na := splitID(a)
	pb, nb := splitID(b)
	if c := strings.Compare(pa, pb); c != 0 {
		return c
	}
	return cmp.Compare(na, nb)
}

func splitID(id string) (string, int64) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return id, 0
	}
	n, _ := strconv.ParseInt(id[i+1:], 10, 64)
	return id[:i], n
}

// ValidID reports whether s has the shape of a canonical id (BL-42).
func ValidID(s string) bool { return idRE.MatchString(s) }

// ValidationError lists everything wrong with an item, one problem per entry.
type ValidationError struct {
	ItemID   string
	Problems []string
}

func (e *ValidationError) Error() string {
	id := e.ItemID
	if id == "" {
		id = "new item"
	}
	return fmt.Sprintf("%s: %s", id, strings.Join(e.Problems, "; "))
}

// Validate checks the item and returns a *ValidationError naming every
// field that is wrong and what values it accepts.
func (it Item) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if it.ID != "" && !ValidID(it.ID) {
		add("id %q must look like BL-42 (capital letters, a dash, a number)", it.ID)
	}
	if !slices.Contains(Kinds, it.Kind) {
		add("kind %q is not one of %s", it.Kind, join(Kinds))
	}
	if strings.TrimSpace(it.Title) == "" {
		add("title is empty; every item needs a title")
	}
	if !slices.Contains(Statuses, it.Status) {
		add("status %q is not one of %s", it.Status, join(Statuses))
	}
	if it.Phase != "" && !slices.Contains(Phases, it.Phase) {
		add("phase %q is not one of %s", it.Phase, join(Phases))
	}
	if it.Priority != "" && !slices.Contains(Priorities, it.Priority) {
		add("priority %q is not one of %s", it.Priority, join(Priorities))
	}
	if it.Estimate.Effort < 0 || it.Estimate.Points < 0 {
		add("estimate effort and points must not be negative")
	}
	if err := it.Estimate.Cost.Validate(); err != nil {
		add("estimate.cost: %v", err)
	}
	if it.Parent != "" && !ValidID(it.Parent) {
		add("parent %q must be a canonical id like BL-7", it.Parent)
	}
	if it.Parent != "" && it.Parent == it.ID {
		add("parent is the item itself")
	}
	for _, l := range it.Labels {
		if strings.TrimSpace(l) == "" || strings.ContainsAny(l, "\n,") {
			add("label %q is empty or contains a comma or newline", l)
		}
	}
	seen := map[string]bool{}
	for i, c := range it.Comments {
		switch {
		case c.ID == "":
			add("comments[%d] has no id", i)
		case seen[c.ID]:
			add("comments[%d] repeats id %q", i, c.ID)
		}
		seen[c.ID] = true
		if c.Visibility != VisibilityClient && c.Visibility != VisibilityInternal {
			add("comments[%d] visibility %q is not client or internal", i, c.Visibility)
		}
	}
	if len(p) > 0 {
		return &ValidationError{ItemID: it.ID, Problems: p}
	}
	return nil
}

// ErrNotFound is returned when an item does not exist.
var ErrNotFound = errors.New("item not found")

func join[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
