// Command vulndb lays out the Go vulnerability database in the v1 format
// govulncheck reads with -db file://DIR, from the OSV entries of the
// golang.org/x/vulndb module (its data/osv directory), with no network:
//
//	go run ./scripts/vulndb -osv $(go env GOMODCACHE)/golang.org/x/vulndb@V/data/osv -modified T -out DIR
//
// The layout (https://go.dev/security/vuln/database#api) is
//
//	DIR/index/db.json       {"modified": T}
//	DIR/index/modules.json  [{"path": module, "vulns": [{"id", "modified", "fixed"}]}], sorted
//	DIR/ID/<id>.json        each OSV entry, byte for byte
//
// The module's entries carry a zero "modified" time: the vulndb project's
// own generator (cmd/gendb) takes it from the git history, which a module
// zip does not have. The database as a whole is dated by -modified (the
// module version's commit time); "fixed" is the newest fixed version that
// no later "introduced" supersedes, as govulncheck computes it, and only
// lets govulncheck skip reading entries that cannot apply.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// entry is the part of an OSV entry the index needs.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced"`
		Fixed      string `json:"fixed"`
	} `json:"events"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

func main() {
	osvDir := flag.String("osv", "", "directory of OSV entries <ID>.json (golang.org/x/vulndb's data/osv)")
	out := flag.String("out", "", "directory to write the database to (must not exist)")
	modified := flag.String("modified", "", "RFC 3339 time the database was last modified")
	flag.Parse()
	if *osvDir == "" || *out == "" || *modified == "" {
		flag.Usage()
		os.Exit(2)
	}
	when, err := time.Parse(time.RFC3339, *modified)
	if err != nil {
		log.Fatalf("vulndb: -modified: %v", err)
	}
	if err := build(*osvDir, *out, when); err != nil {
		log.Fatalf("vulndb: %v", err)
	}
}

// build writes the database for the entries in osvDir to out.
func build(osvDir, out string, modified time.Time) error {
	names, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("no OSV entries in %s", osvDir)
	}
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "index"), 0o755); err != nil {
		return err
	}
	modules := map[string]*moduleMeta{}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("couldn't parse %s: %w", name, err)
		}
		if filepath.Base(name) != e.ID+".json" {
			return fmt.Errorf("%s holds entry %q: want the file named <id>.json", name, e.ID)
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), data, 0o644); err != nil {
			return err
		}
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &moduleMeta{Path: a.Package.Name}
				modules[a.Package.Name] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: latestFix(a.Ranges)})
		}
	}
	index := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		index = append(index, m)
	}
	sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })
	if err := writeJSON(filepath.Join(out, "index", "modules.json"), index); err != nil {
		return err
	}
	return writeJSON(filepath.Join(out, "index", "db.json"), map[string]time.Time{"modified": modified.UTC()})
}

// latestFix is the newest SEMVER "fixed" version of the ranges, or "" if a
// later "introduced" reopens it (then every version may be affected).
func latestFix(ranges []osvRange) string {
	var fixed string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && less(fixed, e.Fixed) {
				fixed = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && less(fixed, e.Introduced) {
				return ""
			}
		}
	}
	return fixed
}

// less compares OSV versions, which have no "v" prefix; "" is lowest.
func less(a, b string) bool {
	if a == "" {
		return b != ""
	}
	return semver.Compare("v"+strings.TrimPrefix(a, "v"), "v"+strings.TrimPrefix(b, "v")) < 0
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
