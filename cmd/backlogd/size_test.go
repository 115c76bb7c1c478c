package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoTemplateEngine keeps the container image under its 25 MB
// goal. text/template and html/template call reflect.Value.MethodByName with
// names known only at run time, and once that is reachable the linker must
// keep every exported method of every type in the binary: go-github's
// thousands of getters alone made the binary 4.8 MB (18%) larger. The image
// check in CI would catch the size; this names the cause in a second.
func TestBinaryLinksNoTemplateEngine(t *testing.T) {
	out, err := exec.Command(goTool(), "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "text/template" || pkg == "html/template" {
			t.Errorf("backlogd links %s, which keeps every exported method in the binary (about 5 MB); "+
				"use strings.Replacer or fmt for the text it renders, or run `go mod why -m` / "+
				"`go list -deps` to find the dependency that brought it", pkg)
		}
	}
}
