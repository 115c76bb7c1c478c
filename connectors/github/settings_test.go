package github

import (
	"context"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"gopkg.in/yaml.v3"
)

func TestFactoryReadsSettingsStrictly(t *testing.T) {
	secrets := connectors.EnvSecrets{LookupEnv: func(k string) (string, bool) {
		v, ok := map[string]string{"GITHUB_TOKEN": "ghp_live", "HOOK": "s3cret"}[k]
		return v, ok
	}}
	tests := []struct {
		name, yaml string
		// wantErr lists fragments the error must contain; none: success.
		wantErr []string
	}{
		{name: "a complete block builds a connector",
			yaml: "owner: acme\nrepo: webshop\ntoken: env:GITHUB_TOKEN\nwebhook_secret: env:HOOK\npage_size: 50\n"},
		{name: "an Enterprise Server URL is accepted",
			yaml: "owner: acme\nrepo: webshop\ntoken: env:GITHUB_TOKEN\nbase_url: https://ghe.example.com/api/v3/\n"},
		{name: "a missing owner, repo and token are all reported",
			yaml: "page_size: 10\n", wantErr: []string{"owner is required", "repo is required", "token is required"}},
		{name: "owner/repo in one setting says to split it",
			yaml: "owner: acme/webshop\nrepo: webshop\ntoken: env:GITHUB_TOKEN\n", wantErr: []string{"put the repository name in repo"}},
		{name: "an unknown key is refused with its line",
			yaml: "owner: acme\nrepo: webshop\ntoken: env:GITHUB_TOKEN\nrepository: x\n", wantErr: []string{"line 4", "repository"}},
		{name: "a page size over GitHub's maximum is refused",
			yaml: "owner: acme\nrepo: webshop\ntoken: env:GITHUB_TOKEN\npage_size: 500\n", wantErr: []string{"page_size 500", "1 to 100"}},
		{name: "a base URL that is not a URL is refused",
			yaml: "owner: acme\nrepo: webshop\ntoken: env:GITHUB_TOKEN\nbase_url: ghe.example.com\n", wantErr: []string{"base_url", "https://ghe.example.com/api/v3/"}},
		{name: "an unset token variable says to export it",
			yaml: "owner: acme\nrepo: webshop\ntoken: env:NOPE\n", wantErr: []string{"token", "NOPE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tt.yaml), &n); err != nil {
				t.Fatal(err)
			}
			c, err := Factory(context.Background(), connectors.Env{Target: "acme-github", Settings: n.Content[0], Secrets: secrets})
			if len(tt.wantErr) == 0 {
				if err != nil || c == nil {
					t.Fatalf("Factory: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Factory accepted the settings")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "ghp_live") {
				t.Error("the error shows the token")
			}
		})
	}
}
