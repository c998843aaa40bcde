package interop

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// quotedPolicy marks a snippet of docs/clients.md that is a file of
// testdata/admission: the fenced block after the marker must be the file.
var quotedPolicy = regexp.MustCompile("<!-- policy: (interop/testdata/admission/[a-z0-9.-]+) -->\n+```yaml\n((?s:.*?))```\n")

// TestAdmissionPoliciesDocumented checks that the Kyverno and
// policy-controller snippets of docs/clients.md are, byte for byte, the
// policies the admission tests run, and that every policy they run is
// shown there.
func TestAdmissionPoliciesDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "clients.md"))
	if err != nil {
		t.Fatal(err)
	}
	quoted := map[string]bool{}
	for _, m := range quotedPolicy.FindAllStringSubmatch(string(doc), -1) {
		file := strings.TrimPrefix(m[1], "interop/")
		want, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("docs/clients.md quotes %s: %v", m[1], err)
			continue
		}
		if m[2] != string(want) {
			t.Errorf("docs/clients.md's snippet of %s differs from the file the tests run: copy the file into the doc", m[1])
		}
		quoted[filepath.Base(file)] = true
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "admission", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no policies in testdata/admission")
	}
	for _, f := range files {
		if base := filepath.Base(f); base != "pod.yaml" && !quoted[base] {
			t.Errorf("docs/clients.md does not show %s (mark it with <!-- policy: interop/testdata/admission/%s -->)", f, base)
		}
	}
}
