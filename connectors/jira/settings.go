package jira

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Settings is the target's `settings:` block.
type Settings struct {
	// URL is the site's base URL (https://acme.atlassian.net, or a Data
	// Center base URL with its context path).
	URL string `yaml:"url"`
	// Project is the project key (ACME).
	Project string `yaml:"project"`
	// Flavor is cloud or datacenter; empty means detected from
	// /rest/api/2/serverInfo at start.
	Flavor string `yaml:"flavor"`
	// User is the account e-mail the API token belongs to (Cloud, basic
	// auth). Leave it out on Data Center to send the token as a personal
	// access token (Bearer); with it, the token is sent as the password.
	User string `yaml:"user"`
	// Token is a secret reference (env:NAME, file:/path) to the API token
	// (Cloud) or personal access token (Data Center).
	Token string `yaml:"token"`
	// WebhookSecret is a secret reference to the webhook's secret; empty
	// means webhook deliveries are refused (polling alone keeps the target
	// in sync).
	WebhookSecret string `yaml:"webhook_secret"`
	// PageSize is the number of issues per search page (1..100, default 100).
	PageSize int `yaml:"page_size"`
	// TimeZone overrides the user's time zone read from /myself, in which
	// Jira reads the dates of JQL queries (Europe/Paris).
	TimeZone string `yaml:"time_zone"`
	// DefaultIssueType is the issue type of records created without one
	// (default Task).
	DefaultIssueType string `yaml:"default_issue_type"`
	// MarkerLabel also writes the idempotency marker as a label
	// (backlogd-BL-42), which search finds; the entity property alone is
	// not searchable. Default true.
	MarkerLabel *bool `yaml:"marker_label"`
	// InternalVisibility restricts internal comments: role:NAME or
	// group:NAME (default role:Administrators).
	InternalVisibility string `yaml:"internal_visibility"`
	// TransitionFields supplies the fields a workflow transition requires,
	// by target status name (or transition name, or "*" for any):
	//
	//	transition_fields:
	//	  Done: {resolution: Done}
	//	  Won't Do: {resolution: Won't Do, comment: Closed from the product backlog}
	TransitionFields map[string]map[string]string `yaml:"transition_fields"`
}

// Flavors.
const (
	FlavorCloud      = "cloud"
	FlavorDataCenter = "datacenter"
)

// Defaults applied by Validate.
const (
	DefaultPageSize           = 100
	DefaultIssueType          = "Task"
	DefaultInternalVisibility = "role:Administrators"
)

var projectKeyRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,254}$`)

// Validate checks the settings and applies defaults. Its errors name the
// setting and say what to write.
func (s *Settings) Validate() error {
	var errs []error
	if s.URL == "" {
		errs = append(errs, errors.New("url is required: the site's base URL, like https://acme.atlassian.net"))
	} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		errs = append(errs, fmt.Errorf("url %q is not an http(s) URL without credentials; write the site's base URL, like https://acme.atlassian.net", redactURL(s.URL)))
	}
	s.URL = strings.TrimRight(s.URL, "/")
	if s.Project == "" {
		errs = append(errs, errors.New("project is required: the project key, like ACME"))
	} else if !projectKeyRE.MatchString(s.Project) {
		errs = append(errs, fmt.Errorf("project %q is not a project key; write the key shown in issue keys (ACME for ACME-12)", s.Project))
	}
	switch s.Flavor {
	case "", FlavorCloud, FlavorDataCenter:
	default:
		errs = append(errs, fmt.Errorf("flavor %q is not known; write cloud or datacenter, or leave it out to detect it", s.Flavor))
	}
	if s.Token == "" {
		errs = append(errs, errors.New("token is required: a secret reference such as env:JIRA_TOKEN"))
	}
	if s.Flavor == FlavorCloud && s.User == "" {
		errs = append(errs, errors.New("user is required on Jira Cloud: the e-mail of the account the API token belongs to"))
	}
	switch {
	case s.PageSize == 0:
		s.PageSize = DefaultPageSize
	case s.PageSize < 1 || s.PageSize > 100:
		errs = append(errs, fmt.Errorf("page_size %d is out of range; Jira serves 1 to 100 issues per page", s.PageSize))
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("time_zone %q is not a time zone; write an IANA name such as Europe/Paris", s.TimeZone))
		}
	}
	if s.DefaultIssueType == "" {
		s.DefaultIssueType = DefaultIssueType
	}
	if s.MarkerLabel == nil {
		t := true
		s.MarkerLabel = &t
	}
	if s.InternalVisibility == "" {
		s.InternalVisibility = DefaultInternalVisibility
	}
	if kind, name, ok := strings.Cut(s.InternalVisibility, ":"); !ok || name == "" || kind != "role" && kind != "group" {
		errs = append(errs, fmt.Errorf("internal_visibility %q: write role:NAME or group:NAME, like role:Administrators", s.InternalVisibility))
	}
	for status, fields := range s.TransitionFields {
		if strings.TrimSpace(status) == "" {
			errs = append(errs, errors.New("transition_fields: a status name is empty"))
		}
		for k := range fields {
			if strings.TrimSpace(k) == "" {
				errs = append(errs, fmt.Errorf("transition_fields.%s: a field name is empty", status))
			}
		}
	}
	return errors.Join(errs...)
}

// visibility returns the restriction of internal comments.
func (s *Settings) visibility() (kind, name string) {
	kind, name, _ = strings.Cut(s.InternalVisibility, ":")
	return kind, name
}

// redactURL drops user information from a URL before it is shown.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return s
}
