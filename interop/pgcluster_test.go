package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// pgCluster is a PostgreSQL cluster a test starts on its own: a primary
// from initdb, a standby from pg_basebackup, or a restore target. Like
// scripts/with-postgres.sh it runs as the unprivileged user postgres when
// the test runs as root (PostgreSQL refuses root), on a free loopback port.
type pgCluster struct {
	t    testing.TB
	bin  string // PostgreSQL's bin directory
	dir  string // owned by the cluster's user; data/ holds the cluster
	port int
	as   []string // runuser prefix, or empty
}

// pgBinDir finds PostgreSQL's server binaries (PG_BIN, Debian's layout, or
// PATH). Without them the test skips, or fails under CI=true.
func pgBinDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("PostgreSQL server binaries not found (install postgresql, or set PG_BIN): CI must run the replication tests")
	}
	t.Skip("PostgreSQL server binaries not found; install postgresql or set PG_BIN")
	return ""
}

// newPGDir makes a directory the cluster's user owns, removed at the end.
func newPGDir(t testing.TB) *pgCluster {
	t.Helper()
	c := &pgCluster{t: t, bin: pgBinDir(t)}
	dir, err := os.MkdirTemp("", "hallmark-pgc")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			if out, err := exec.Command("useradd", "--system", "--no-create-home", "postgres").CombinedOutput(); err != nil {
				t.Fatalf("useradd postgres: %v %s", err, out)
			}
			u, _ = user.Lookup("postgres")
		}
		var uid, gid int
		fmt.Sscan(u.Uid, &uid)
		fmt.Sscan(u.Gid, &gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.as = []string{"runuser", "-u", "postgres", "--"}
	}
	return c
}

// pgRun runs a PostgreSQL program as the cluster's user.
func (c *pgCluster) pgRun(prog string, args ...string) (string, error) {
	argv := append(append(append([]string{}, c.as...), filepath.Join(c.bin, prog)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *pgCluster) mustRun(prog string, args ...string) string {
	c.t.Helper()
	out, err := c.pgRun(prog, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return out
}

// newPrimary initialises and starts a cluster.
func newPrimary(t testing.TB) *pgCluster {
	t.Helper()
	c := newPGDir(t)
	c.mustRun("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "--no-sync")
	c.start()
	return c
}

// newStandby starts a streaming standby of primary, cloned with
// pg_basebackup -R (which writes standby.signal and primary_conninfo).
func newStandby(t testing.TB, primary *pgCluster) *pgCluster {
	t.Helper()
	c := newPGDir(t)
	c.mustRun("pg_basebackup", "-h", "127.0.0.1", "-p", fmt.Sprint(primary.port), "-U", "postgres",
		"-D", c.data(), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
	c.start()
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// start starts the cluster on a free port and stops it when the test ends.
func (c *pgCluster) start() {
	c.t.Helper()
	var out string
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		_, port, _ := net.SplitHostPort(freeAddr(c.t))
		c.port, _ = strconv.Atoi(port)
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=100 -c shared_buffers=64MB", c.port, c.dir)
		out, err = c.pgRun("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			c.t.Cleanup(c.stop)
			return
		}
	}
	log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	c.t.Fatalf("couldn't start PostgreSQL: %v\n%s\n%s", err, out, log)
}

func (c *pgCluster) stop() {
	c.pgRun("pg_ctl", "-D", c.data(), "-m", "immediate", "stop")
}

// url returns the URL of a database of the cluster.
func (c *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// psql runs SQL on a database of the cluster.
func (c *pgCluster) psql(db, sql string) string {
	c.t.Helper()
	return c.mustRun("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", fmt.Sprint(c.port), "-U", "postgres", "-d", db, "-At", "-c", sql)
}
