package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/backlogd/backlogd/mapping"
	"gopkg.in/yaml.v3"
)

// The replica examples in deploy/ carry their daemon config inline (a
// compose config, a Kubernetes ConfigMap); these tests load it as the
// daemon would, so the examples cannot rot.

func loadExample(t *testing.T, config string, clients map[string]string) *mapping.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "clients"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "backlogd.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range clients {
		if err := os.WriteFile(filepath.Join(dir, "clients", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := mapping.Load(filepath.Join(dir, "backlogd.yaml"))
	if err != nil {
		t.Fatalf("the example's config does not load:\n%v", err)
	}
	if cfg.Store.Driver != "postgres" || cfg.Store.DSN == "" {
		t.Errorf("the example's store is %q with dsn %q, want postgres with a secret reference", cfg.Store.Driver, cfg.Store.DSN)
	}
	return cfg
}

func TestTheComposeExampleRunsThreeReplicasOnAConfigThatLoads(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Deploy struct {
				Replicas int `yaml:"replicas"`
			} `yaml:"deploy"`
		} `yaml:"services"`
		Configs map[string]struct {
			Content string `yaml:"content"`
		} `yaml:"configs"`
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "compose-replicas.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	if n := compose.Services["backlogd"].Deploy.Replicas; n != 3 {
		t.Errorf("the compose example runs %d backlogd replicas, want 3", n)
	}
	if _, ok := compose.Services["postgres"]; !ok {
		t.Error("the compose example has no postgres service")
	}
	clients := map[string]string{}
	for _, name := range []string{"home.yaml", "acme.yaml", "globex.yaml"} {
		body, err := os.ReadFile(filepath.Join("..", "..", "configs", "clients", name))
		if err != nil {
			t.Fatal(err)
		}
		clients[name] = string(body)
	}
	loadExample(t, compose.Configs["backlogd_config"].Content, clients)
}

func TestTheKubernetesExampleRunsThreeReplicasOnAConfigThatLoads(t *testing.T) {
	read := func(name string) []map[string]any {
		t.Helper()
		f, err := os.Open(filepath.Join("..", "..", "deploy", "k8s", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var docs []map[string]any
		dec := yaml.NewDecoder(f)
		for {
			var d map[string]any
			if err := dec.Decode(&d); err != nil {
				break
			}
			docs = append(docs, d)
		}
		return docs
	}
	var data map[string]any
	for _, d := range read("config.yaml") {
		if d["kind"] == "ConfigMap" {
			data, _ = d["data"].(map[string]any)
		}
	}
	clients := map[string]string{}
	for k, v := range data {
		if k != "backlogd.yaml" {
			clients[k], _ = v.(string)
		}
	}
	config, _ := data["backlogd.yaml"].(string)
	cfg := loadExample(t, config, clients)
	if len(cfg.Clients) != len(clients) {
		t.Errorf("the ConfigMap has %d client files, the config loads %d", len(clients), len(cfg.Clients))
	}
	replicas := 0
	for _, d := range read("backlogd.yaml") {
		if d["kind"] == "Deployment" {
			spec, _ := d["spec"].(map[string]any)
			replicas, _ = spec["replicas"].(int)
		}
	}
	if replicas != 3 {
		t.Errorf("the Deployment runs %d replicas, want 3", replicas)
	}
}
