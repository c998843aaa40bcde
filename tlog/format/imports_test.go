package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/hallmark-dev/hallmark"

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
}

// goList runs `go list -deps -json` on patterns from the module root and
// returns the packages, dependencies included (tests excluded: only what
// a binary links counts).
func goList(t *testing.T, patterns ...string) []listedPackage {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the import boundary is checked with the go command: %v", err)
	}
	cmd := exec.Command(goTool, append([]string{"list", "-deps", "-json"}, patterns...)...)
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	for d := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listedPackage
		if err := d.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// forbidden are the engine and its storage drivers: nothing that imports
// them belongs in the format layer, the CA or the OIDC verifier.
var forbidden = []string{
	"github.com/jackc/pgx",
	"modernc.org/sqlite",
	"github.com/mattn/go-sqlite3",
	"github.com/pressly/goose",
	module + "/tlog",
	module + "/migrations",
}

func isForbidden(path string) bool {
	for _, f := range forbidden {
		if path == f || strings.HasPrefix(path, f+"/") {
			// tlog/format is the one package under tlog that is allowed.
			return path != module+"/tlog/format"
		}
	}
	return false
}

// TestFormatImports keeps package format import-light: its direct imports
// are the standard library and a handful of format libraries, and nothing
// it links is part of the engine.
func TestFormatImports(t *testing.T) {
	allowed := []string{
		"golang.org/x/crypto/",
		"golang.org/x/mod/sumdb/note",
		"github.com/transparency-dev/formats/",
		"github.com/transparency-dev/merkle",
		"github.com/sigstore/rekor-tiles/v2/pkg/note",
	}
	for _, p := range goList(t, "./tlog/format") {
		if isForbidden(p.ImportPath) {
			t.Errorf("tlog/format links %s", p.ImportPath)
		}
		if p.ImportPath != module+"/tlog/format" {
			continue
		}
	imports:
		for _, imp := range p.Imports {
			if !strings.Contains(strings.Split(imp, "/")[0], ".") {
				continue // standard library
			}
			for _, a := range allowed {
				if imp == strings.TrimSuffix(a, "/") || strings.HasPrefix(imp, a) {
					continue imports
				}
			}
			t.Errorf("tlog/format imports %s, which is not on its allow-list", imp)
		}
	}
}

// TestCAImports: the CA and the OIDC verifier link no storage driver and
// none of the engine, only these packages of the module.
func TestCAImports(t *testing.T) {
	allowed := []string{"ca", "oidc", "internal/", "tlog/format", "api/admission"}
	for _, p := range goList(t, "./ca/...", "./oidc/...") {
		if isForbidden(p.ImportPath) {
			t.Errorf("ca or oidc links %s", p.ImportPath)
			continue
		}
		rel, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue
		}
		found := false
		for _, a := range allowed {
			if rel == a || strings.HasPrefix(rel, strings.TrimSuffix(a, "/")+"/") {
				found = true
			}
		}
		if !found {
			t.Errorf("ca or oidc links %s, which is not on their allow-list", p.ImportPath)
		}
	}
}
