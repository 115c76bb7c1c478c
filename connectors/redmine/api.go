package redmine

import (
	"encoding/json"
	"time"
)

// The JSON shapes of Redmine's REST API (app/views/**/*.api.rsb), only
// the parts the connector reads.

type ref struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"`
}

type customValue struct {
	ID       int             `json:"id"`
	Name     string          `json:"name"`
	Multiple bool            `json:"multiple,omitempty"`
	Value    json.RawMessage `json:"value"`
}

// values reads a custom value: a string, null, or (multiple) a list.
func (v customValue) values() []string {
	var one *string
	if json.Unmarshal(v.Value, &one) == nil {
		if one == nil || *one == "" {
			return nil
		}
		return []string{*one}
	}
	var many []string
	if json.Unmarshal(v.Value, &many) == nil {
		out := many[:0]
		for _, s := range many {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

type journal struct {
	ID           int       `json:"id"`
	User         *ref      `json:"user"`
	Notes        string    `json:"notes"`
	CreatedOn    time.Time `json:"created_on"`
	PrivateNotes bool      `json:"private_notes"`
}

type issue struct {
	ID             int           `json:"id"`
	Project        *ref          `json:"project"`
	Tracker        *ref          `json:"tracker"`
	Status         *ref          `json:"status"`
	Priority       *ref          `json:"priority"`
	Author         *ref          `json:"author"`
	AssignedTo     *ref          `json:"assigned_to"`
	Category       *ref          `json:"category"`
	FixedVersion   *ref          `json:"fixed_version"`
	Parent         *ref          `json:"parent"`
	Subject        string        `json:"subject"`
	Description    *string       `json:"description"`
	StartDate      *string       `json:"start_date"`
	DueDate        *string       `json:"due_date"`
	DoneRatio      *int          `json:"done_ratio"`
	EstimatedHours *float64      `json:"estimated_hours"`
	CustomFields   []customValue `json:"custom_fields"`
	CreatedOn      time.Time     `json:"created_on"`
	UpdatedOn      time.Time     `json:"updated_on"`
	Journals       []journal     `json:"journals"`
}

type issueEnvelope struct {
	Issue issue `json:"issue"`
}

type issueList struct {
	Issues     []issue `json:"issues"`
	TotalCount int     `json:"total_count"`
	Offset     int     `json:"offset"`
	Limit      int     `json:"limit"`
}

type namedList struct {
	Trackers     []ref         `json:"trackers"`
	Statuses     []ref         `json:"issue_statuses"`
	Priorities   []ref         `json:"issue_priorities"`
	Categories   []ref         `json:"issue_categories"`
	Versions     []ref         `json:"versions"`
	TotalCount   int           `json:"total_count"`
	CustomFields []customField `json:"custom_fields"`
}

type customField struct {
	ID             int    `json:"id"`
	Name           string `json:"name"`
	CustomizedType string `json:"customized_type"`
	FieldFormat    string `json:"field_format"`
	IsFilter       bool   `json:"is_filter"`
	Multiple       bool   `json:"multiple"`
	PossibleValues []struct {
		Value string `json:"value"`
	} `json:"possible_values"`
	// Trackers are those the field is enabled for, as
	// /custom_fields.json (administrators only) lists them; trackersKnown
	// says whether they were read.
	Trackers      []ref `json:"trackers"`
	trackersKnown bool
}

// enabledFor reports whether the field applies to tracker id: true when
// the trackers are not known.
func (f customField) enabledFor(id int) bool {
	if !f.trackersKnown {
		return true
	}
	for _, t := range f.Trackers {
		if t.ID == id {
			return true
		}
	}
	return false
}

type user struct {
	ID        int    `json:"id"`
	Login     string `json:"login"`
	Firstname string `json:"firstname"`
	Lastname  string `json:"lastname"`
}

type userList struct {
	Users      []user `json:"users"`
	TotalCount int    `json:"total_count"`
}

type membershipList struct {
	Memberships []struct {
		User *ref `json:"user"`
	} `json:"memberships"`
	TotalCount int `json:"total_count"`
}

type project struct {
	Project struct {
		ID                int           `json:"id"`
		Identifier        string        `json:"identifier"`
		Trackers          []ref         `json:"trackers"`
		IssueCustomFields []customField `json:"issue_custom_fields"`
	} `json:"project"`
}
