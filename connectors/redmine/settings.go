package redmine

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Settings is the target's `settings:` block.
type Settings struct {
	// URL is the Redmine base URL (https://redmine.example.com, or with a
	// sub-path when Redmine is served below one).
	URL string `yaml:"url"`
	// APIKey is a secret reference (env:NAME, file:/path) to the API key of
	// the user backlogd acts as (My account › API access key).
	APIKey string `yaml:"api_key"`
	// Project is the project identifier ("lab-portal") or numeric id.
	Project string `yaml:"project"`
	// MarkerField is the name of the issue custom field (string, used as a
	// filter) holding the canonical id; default "External ID".
	MarkerField string `yaml:"marker_field"`
	// RequestsPerSecond paces requests client-side, since Redmine has no
	// rate limiting of its own (default 5; negative: no pacing, only for a
	// server you own).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// PageSize is the number of issues per listing page (1..100, default 100).
	PageSize int `yaml:"page_size"`
	// HoursPerDay converts Redmine's estimated time, which is in hours,
	// to the estimated_days field (default 8).
	HoursPerDay float64 `yaml:"hours_per_day"`
}

// Defaults applied by Validate.
const (
	DefaultMarkerField       = "External ID"
	DefaultRequestsPerSecond = 5
	DefaultPageSize          = 100
	DefaultHoursPerDay       = 8
)

// Validate checks the settings and applies defaults. Its errors name the
// setting and say what to write.
func (s *Settings) Validate() error {
	var errs []error
	if s.URL == "" {
		errs = append(errs, errors.New("url is required: the Redmine base URL, like https://redmine.example.com"))
	} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url %q is not an http(s) URL; write the Redmine base URL, like https://redmine.example.com", s.URL))
	}
	s.URL = strings.TrimRight(s.URL, "/")
	if s.APIKey == "" {
		errs = append(errs, errors.New("api_key is required: a secret reference such as env:REDMINE_API_KEY"))
	}
	if s.Project == "" {
		errs = append(errs, errors.New("project is required: the project identifier shown in its URL (/projects/IDENTIFIER)"))
	} else if strings.ContainsAny(s.Project, "/?# ") {
		errs = append(errs, fmt.Errorf("project %q is not a project identifier; write the identifier shown in the project's URL", s.Project))
	}
	if s.MarkerField == "" {
		s.MarkerField = DefaultMarkerField
	}
	if s.RequestsPerSecond == 0 {
		s.RequestsPerSecond = DefaultRequestsPerSecond
	}
	switch {
	case s.HoursPerDay == 0:
		s.HoursPerDay = DefaultHoursPerDay
	case s.HoursPerDay < 0 || s.HoursPerDay > 24:
		errs = append(errs, fmt.Errorf("hours_per_day %g is out of range; write the working hours of one day, like 8 or 7.5", s.HoursPerDay))
	}
	switch {
	case s.PageSize == 0:
		s.PageSize = DefaultPageSize
	case s.PageSize < 1 || s.PageSize > 100:
		errs = append(errs, fmt.Errorf("page_size %d is out of range; Redmine serves 1 to 100 issues per page", s.PageSize))
	}
	return errors.Join(errs...)
}
