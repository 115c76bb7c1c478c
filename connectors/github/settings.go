package github

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Settings is the target's `settings:` block.
type Settings struct {
	// Owner is the user or organisation owning the repository.
	Owner string `yaml:"owner"`
	// Repo is the repository name.
	Repo string `yaml:"repo"`
	// Token is a secret reference (env:NAME, file:/path) to a token with
	// Issues read/write access.
	Token string `yaml:"token"`
	// BaseURL is the API URL of a GitHub Enterprise Server
	// (https://ghe.example.com/api/v3/); empty means github.com.
	BaseURL string `yaml:"base_url"`
	// WebhookSecret is a secret reference to the webhook's secret; empty
	// means webhook deliveries are refused.
	WebhookSecret string `yaml:"webhook_secret"`
	// PageSize is the number of issues per listing page (1..100, default 100).
	PageSize int `yaml:"page_size"`
}

// DefaultPageSize is GitHub's largest page.
const DefaultPageSize = 100

// Validate checks the settings and applies defaults. Its errors name the
// setting and say what to write.
func (s *Settings) Validate() error {
	var errs []error
	if s.Owner == "" {
		errs = append(errs, errors.New("owner is required: the user or organisation that owns the repository"))
	} else if strings.Contains(s.Owner, "/") {
		errs = append(errs, fmt.Errorf("owner %q must be a single name; put the repository name in repo", s.Owner))
	}
	if s.Repo == "" {
		errs = append(errs, errors.New("repo is required: the repository name, without the owner"))
	} else if strings.Contains(s.Repo, "/") {
		errs = append(errs, fmt.Errorf("repo %q must not contain '/'; write owner and repo separately", s.Repo))
	}
	if s.Token == "" {
		errs = append(errs, errors.New("token is required: a secret reference such as env:GITHUB_TOKEN"))
	}
	if s.BaseURL != "" {
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("base_url %q is not an http(s) URL; write the Enterprise Server API URL, like https://ghe.example.com/api/v3/", s.BaseURL))
		}
	}
	switch {
	case s.PageSize == 0:
		s.PageSize = DefaultPageSize
	case s.PageSize < 1 || s.PageSize > 100:
		errs = append(errs, fmt.Errorf("page_size %d is out of range; GitHub serves 1 to 100 issues per page", s.PageSize))
	}
	return errors.Join(errs...)
}
