package admission

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPRoutes: each route has its own maximum, reservation and error
// shape. A large body on a route that reserves twice its length holds
// twice its length from before it is read, on the large share only, while
// small requests on any route are still admitted.
func TestHTTPRoutes(t *testing.T) {
	c := newController(t, Limits{InflightBytes: 8 << 20, InflightWait: 100 * time.Millisecond, BodyTimeout: 5 * time.Second}, 1<<10)
	refuse := func(shape string) func(http.ResponseWriter, *http.Request, error) {
		return func(w http.ResponseWriter, r *http.Request, err error) {
			code := http.StatusServiceUnavailable
			if errors.Is(err, errTooBig) {
				code = http.StatusRequestEntityTooLarge
			}
			http.Error(w, shape+": "+err.Error(), code)
		}
	}
	h := c.HTTPRoutes(func(r *http.Request) Route {
		if r.URL.Path == "/entries" {
			return Route{MaxBytes: 4 << 20, Reserve: func(n int64) int64 { return 2 * n }, Describe: "dsse entries", Refuse: refuse("entries")}
		}
		return Route{MaxBytes: 1 << 10, Refuse: refuse("other")}
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := c.HTTPServer(h, nil)
	go srv.Serve(c.Listener(ln, "http"))
	defer srv.Close()
	addr := ln.Addr().String()

	answer := func(path string, n int) (int, string) {
		t.Helper()
		_, br := rawRequest(t, addr, path, n)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Over each route's own maximum: 413 in its shape, naming the limit.
	if code, msg := answer("/entries", 4<<20+1); code != 413 || !strings.HasPrefix(msg, "entries: ") || !strings.Contains(msg, "over the limit of 4194304 bytes (dsse entries)") {
		t.Errorf("entry over the route maximum: %d %q", code, msg)
	}
	if code, msg := answer("/other", 2<<10); code != 413 || !strings.HasPrefix(msg, "other: ") {
		t.Errorf("body over another route's maximum: %d %q", code, msg)
	}

	// A slow 3 MiB entry reserves 6 MiB: the whole large share.
	rawRequest(t, addr, "/entries", 3<<20)
	waitFor(t, "the slow entry's reservation", func() bool { return c.budget.inUse() == 6<<20 })
	// Another large entry does not fit: 503 in the route's shape.
	if code, msg := answer("/entries", 100<<10); code != 503 || !strings.HasPrefix(msg, "entries: ") {
		t.Errorf("second large entry: %d %q", code, msg)
	}
	// Small requests, entries included, still fit the small share.
	for _, path := range []string{"/entries", "/other"} {
		resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(strings.Repeat("x", 500)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("small request to %s: %d", path, resp.StatusCode)
		}
	}
}
