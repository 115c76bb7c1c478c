package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	write := func(t *testing.T, daemon string) string {
		t.Helper()
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "clients"), 0o755); err != nil {
			t.Fatal(err)
		}
		client := "client: acme\ntarget: acme-github\nscope: all\nfields: {title: title}\n"
		if err := os.WriteFile(filepath.Join(dir, "clients", "acme.yaml"), []byte(client), 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "backlogd.yaml")
		if err := os.WriteFile(path, []byte(daemon), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("a good config passes offline, without its secrets set and without touching the data directory", func(t *testing.T) {
		path := write(t, "data_dir: "+filepath.Join(t.TempDir(), "never")+"\ntargets:\n  - name: acme-github\n    kind: github\n    settings: {owner: acme, repo: shop, token: env:BACKLOGD_TEST_UNSET_TOKEN}\n")
		var out bytes.Buffer
		if err := cmdValidate(context.Background(), []string{"--config", path}, &out); err != nil {
			t.Fatalf("validate: %v", err)
		}
		if !strings.Contains(out.String(), "OK (1 targets, 1 clients)") {
			t.Errorf("output = %q", out.String())
		}
	})
	t.Run("an unknown connector setting fails with exit 2, its file and line", func(t *testing.T) {
		path := write(t, "targets:\n  - name: acme-github\n    kind: github\n    settings:\n      owner: acme\n      repo: shop\n      token: env:X\n      colour: red\n")
		err := cmdValidate(context.Background(), []string{"--config", path}, &bytes.Buffer{})
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Fatalf("validate = %v, want exit 2", err)
		}
		if !strings.Contains(err.Error(), "backlogd.yaml:2: ") || !strings.Contains(err.Error(), "line 8: unknown setting colour") {
			t.Errorf("error = %v, want the target's line and the bad key's line", err)
		}
	})
}
