package file

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/backlogd/backlogd/connectors"
)

// settingsNode returns the `settings:` node of a target block as it
// appears in backlogd.yaml, line numbers included.
func settingsNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "settings" {
			return m.Content[i+1]
		}
	}
	t.Fatal("no settings")
	return nil
}

func TestFactoryPutsTheDirectoryBelowTheDataDirByDefault(t *testing.T) {
	data := t.TempDir()
	c, err := Factory(bg, connectors.Env{Target: "home", DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(data, "home")); err != nil || !fi.IsDir() {
		t.Fatalf("the default directory was not created: %v", err)
	}
	if c.(*Connector).pageSize != DefaultPageSize {
		t.Errorf("page size %d", c.(*Connector).pageSize)
	}
}

func TestFactoryReadsItsSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme")
	n := settingsNode(t, "name: acme-tracker\nkind: file\nsettings:\n  dir: "+dir+"\n  page_size: 7\n")
	c, err := Factory(bg, connectors.Env{Target: "acme-tracker", Settings: n})
	if err != nil {
		t.Fatal(err)
	}
	fc := c.(*Connector)
	if fc.dir != dir || fc.pageSize != 7 {
		t.Errorf("dir %q page size %d", fc.dir, fc.pageSize)
	}
}

func TestFactoryRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"an unknown key names its line", "name: x\nsettings:\n  dir: /tmp/x\n  dirr: /tmp/y\n", []string{"target x", "line 4: unknown setting dirr; this kind takes dir, page_size"}},
		{"a page size out of range", "name: x\nsettings:\n  page_size: 0\n  dir: /tmp/x\n", nil},
		{"a negative page size", "name: x\nsettings:\n  page_size: -1\n", []string{"page_size -1 is out of range", "1 to 10000"}},
		{"a page size that is not a number", "name: x\nsettings:\n  page_size: lots\n", []string{"line 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := connectors.Env{Target: "x", DataDir: t.TempDir(), Settings: settingsNode(t, tt.src)}
			_, err := Factory(bg, env)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("page_size 0 means the default: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			mustContain(t, err.Error(), tt.want...)
		})
	}
}

func TestFactoryRefusesADirectoryItCannotMake(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "blocker")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := settingsNode(t, "settings:\n  dir: "+blocker+"/backlog\n")
	_, err := Factory(bg, connectors.Env{Target: "home", Settings: n})
	if err == nil {
		t.Fatal("accepted a directory below a file")
	}
	mustContain(t, err.Error(), "target home", blocker+"/backlog", "dir:")
}
