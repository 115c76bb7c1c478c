package connectors

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDecodeSettingsNamesTheUnknownKeyAndTheKnownOnes(t *testing.T) {
	var doc yaml.Node
	src := "targets:\n  - name: x\n    settings:\n      owner: a\n      colour: red\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	settings := doc.Content[0].Content[1].Content[0].Content[3] // targets[0].settings
	var s struct {
		Owner string `yaml:"owner"`
		Repo  string `yaml:"repo,omitempty"`
	}
	err := DecodeSettings(settings, &s)
	want := "line 5: unknown setting colour; this kind takes owner, repo"
	if err == nil || err.Error() != want {
		t.Errorf("DecodeSettings = %v, want %q (the line in the real file)", err, want)
	}
}

func TestRefCheckerChecksTheFormOnly(t *testing.T) {
	for _, ref := range []string{"env:NOT_SET_ANYWHERE_12345", "file:/no/such/file"} {
		if s, err := (RefChecker{}).Resolve(ref); err != nil || s.IsZero() {
			t.Errorf("Resolve(%q) = %v, %v; want a placeholder: offline checks read nothing", ref, s, err)
		}
	}
	_, err := RefChecker{}.Resolve("ghp_0123456789abcdef")
	if err == nil || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("a literal token: error %v; want a refusal that does not echo it", err)
	}
}

func TestEnvSecretsSaysWhatToSet(t *testing.T) {
	r := EnvSecrets{LookupEnv: func(string) (string, bool) { return "", false }}
	_, err := r.Resolve("env:JIRA_TOKEN")
	if err == nil || !strings.Contains(err.Error(), "export it") {
		t.Errorf("error = %v", err)
	}
	r = EnvSecrets{LookupEnv: func(string) (string, bool) { return "s3cret", true }}
	s, err := r.Resolve("env:JIRA_TOKEN")
	if err != nil || s.Reveal() != "s3cret" || s.String() != "<secret>" {
		t.Errorf("Resolve = %v (%q), %v", s, s.Reveal(), err)
	}
}
