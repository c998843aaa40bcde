package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestStaticFilesListsNoDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "targets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"1.root.json": "{root}", "targets/trusted_root.json": "{tr}"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.StripPrefix("/tuf/", StaticFiles(dir)))
	defer srv.Close()
	for path, want := range map[string]int{
		"/tuf/": 404, "/tuf/targets/": 404, "/tuf/targets": 404, "/tuf/missing.json": 404,
		"/tuf/1.root.json": 200, "/tuf/targets/trusted_root.json": 200, "/tuf/../static.go": 404,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d %q, want %d", path, resp.StatusCode, body, want)
		}
	}
}
