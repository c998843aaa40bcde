package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/adopt"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// Import measures the Hallmark side of `hallmark adopt trillian`:
// the same adopt.Importer, fed from memory instead of Trillian, so that
// the figure excludes Trillian's read speed. The leaves are canonical Rekor
// v1 hashedrekord entries like cosign's, with Rekor-like integration times.
func Import(args []string) error {
	fs := flag.NewFlagSet("import", flag.ExitOnError)
	store := benchStoreFlags(fs, "postgres", "store to import into")
	n := fs.Int("entries", 1_000_000, "entries to import")
	perSecond := fs.Float64("per-second", 10, "mean number of leaves sharing one integration second (1: every leaf has its own second, the worst case)")
	signers := fs.Int("signers", 4096, "distinct signing keys and certificates in the entries")
	readSize := fs.Int("read-size", 0, "leaves per source read, as adopt's --batch-size (default: the importer's)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the import to this file")
	fs.Parse(args)
	if *n <= 0 || *perSecond < 1 {
		return errors.New("import: --entries must be positive and --per-second at least 1")
	}

	ctx := context.Background()
	s, cleanup, err := store.open(ctx)
	if err != nil {
		return err
	}
	defer cleanup()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	const origin = "rekor.bench.example - 1"
	signer, err := format.NewNoteSigner("rekor.bench.example", key)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("import-bench-%d", time.Now().UnixNano())
	l, err := tlog.Open(ctx, s, tlog.Config{Name: name, Origin: origin, Signer: signer,
		Index: s, History: s, Importer: s})
	if err != nil {
		return err
	}
	defer l.Close()

	fmt.Printf("hallmark-bench import: store=%s entries=%d per-second=%g signers=%d cpus=%d %s\n",
		*store.kind, *n, *perSecond, *signers, runtime.NumCPU(), cpuModel())
	start := time.Now()
	src, err := newRekorSource(*n, *perSecond, *signers)
	if err != nil {
		return err
	}
	fmt.Printf("  source: %d leaves, %d integration seconds, %.0f bytes per leaf on average (made in %v)\n",
		*n, src.seconds, float64(src.bytes)/float64(*n), time.Since(start).Round(100*time.Millisecond))

	im := &adopt.Importer{
		Log: l, Store: s, Source: src, ReadSize: *readSize,
		IndexKeys: rekorv1.IndexKeysFromCanonical,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	dbCPU := func() (time.Duration, bool) { return 0, false }
	if *store.kind == "postgres" {
		dbCPU = postgresCPU(ctx, store.postgresURL())
	}
	runtime.GC()
	printLoad("before")
	cpu0 := cpuTime()
	db0, _ := dbCPU()
	res, err := im.Run(ctx)
	cpu := cpuTime() - cpu0
	db1, dbOK := dbCPU()
	if err != nil {
		return err
	}
	if res.Imported() != uint64(*n) || res.NoIndexKeys != 0 {
		return fmt.Errorf("imported %d of %d entries, %d without search keys", res.Imported(), *n, res.NoIndexKeys)
	}
	res.WriteSummary(os.Stdout)
	perEntry := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(*n) }
	fmt.Printf("  cpu: %.1f s user+sys in this process (%.1f µs per entry)\n", cpu.Seconds(), perEntry(cpu))
	if dbOK {
		// CPU time does not depend on what else runs on the machine: it
		// bounds the rate on otherwise idle cores.
		total := cpu + db1 - db0
		fmt.Printf("  cpu: %.1f s in the PostgreSQL server (%.1f µs per entry); both: %.1f µs per entry = %.0f entries/s on %d idle cores\n",
			(db1 - db0).Seconds(), perEntry(db1-db0), perEntry(total), float64(*n)/total.Seconds()*float64(runtime.NumCPU()), runtime.NumCPU())
	}
	printLoad("after")

	// Every integration second has its checkpoint row: the batch time of
	// each entry is its second.
	cps, err := s.Checkpoints(ctx, name, 1, uint64(*n))
	if err != nil {
		return err
	}
	if len(cps) < src.seconds {
		return fmt.Errorf("%d checkpoint rows for %d integration seconds", len(cps), src.seconds)
	}
	for _, i := range []int{0, *n / 3, *n / 2, *n - 1} {
		bt, err := l.BatchTime(ctx, uint64(i))
		if err != nil {
			return err
		}
		// Rekor's integratedTime is in seconds.
		if want := src.leaves[i].Integrated; bt.Unix() != want.Unix() {
			return fmt.Errorf("entry %d: batch time %v, integrated at %v", i, bt, want)
		}
	}
	fmt.Printf("  checked: root equals the source's, %d checkpoint rows for %d integration seconds, batch times of sampled entries\n", len(cps), src.seconds)
	return nil
}

func printLoad(when string) {
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("  load average %s: %s", when, load)
	}
}

// openBenchStore opens the store a benchmark writes to.
// benchStore is the store a bench command writes to, from its flags.
type benchStore struct{ kind, dbURL, dir *string }

// benchStoreFlags defines --store (default def), --database-url and --dir.
func benchStoreFlags(fs *flag.FlagSet, def, what string) benchStore {
	return benchStore{
		kind:  fs.String("store", def, what+": postgres (HALLMARK_DATABASE_URL or HALLMARK_TEST_DATABASE_URL) or sqlite"),
		dbURL: fs.String("database-url", "", "PostgreSQL URL (default: $HALLMARK_DATABASE_URL, then $HALLMARK_TEST_DATABASE_URL)"),
		dir:   fs.String("dir", "", "directory for the SQLite file (default: a temporary directory)"),
	}
}

// postgresURL is --database-url, else the environment's.
func (b benchStore) postgresURL() string {
	return firstNonEmpty(*b.dbURL, os.Getenv("HALLMARK_DATABASE_URL"), os.Getenv("HALLMARK_TEST_DATABASE_URL"))
}

func (b benchStore) open(ctx context.Context) (api.Store, func(), error) {
	store, dir := *b.kind, *b.dir
	switch store {
	case "postgres":
		url := b.postgresURL()
		if url == "" {
			return nil, nil, errors.New("postgres: set --database-url or HALLMARK_DATABASE_URL (scripts/with-postgres.sh starts a throwaway server)")
		}
		s, err := tlog.OpenPG(ctx, url)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	case "sqlite":
		d, remove := dir, false
		if d == "" {
			var err error
			if d, err = os.MkdirTemp("", "hallmark-bench"); err != nil {
				return nil, nil, err
			}
			remove = true
		}
		s, err := tlog.OpenSQLite(ctx, filepath.Join(d, "bench.db"))
		if err != nil {
			return nil, nil, err
		}
		return s, func() {
			s.Close()
			if remove {
				os.RemoveAll(d)
			}
		}, nil
	}
	return nil, nil, fmt.Errorf("unknown store %q", store)
}

// rekorSource is an adopt.Source in memory: n canonical hashedrekord
// leaves, made before the measurement.
type rekorSource struct {
	leaves  []adopt.Leaf
	tree    *testonly.Tree
	seconds int // distinct integration seconds
	bytes   int
}

// newRekorSource makes n leaves. Each is a canonical hashedrekord 0.0.1
// entry for a distinct artifact, signed by one of signers keys: two thirds
// with a short-lived certificate carrying an email (keyless), one third
// with a bare public key. Consecutive leaves share an integration second
// as a Trillian signer's sequencing passes make them: each second holds
// between 1 and 2*perSecond-1 leaves (perSecond on average), and seconds
// are 1 to 30 s apart.
func newRekorSource(n int, perSecond float64, signers int) (*rekorSource, error) {
	templates, err := rekorTemplates(signers)
	if err != nil {
		return nil, err
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	s := &rekorSource{leaves: make([]adopt.Leaf, n), tree: testonly.New(rfc6962.DefaultHasher)}
	t := time.Unix(1650000000, 0)
	left := 0 // leaves left in the current second
	for i := range n {
		if left == 0 {
			t = t.Add(time.Duration(1+r.IntN(30)) * time.Second)
			left = 1
			if perSecond > 1 {
				left = 1 + r.IntN(int(2*perSecond-1))
			}
			s.seconds++
		}
		left--
		tm := templates[i%len(templates)]
		d := sha256.Sum256(fmt.Appendf(nil, "artifact %d", i))
		v := make([]byte, 0, len(tm.before)+64+len(tm.after))
		v = append(v, tm.before...)
		v = hex.AppendEncode(v, d[:])
		v = append(v, tm.after...)
		lh := rfc6962.DefaultHasher.HashLeaf(v)
		// Trillian's integration times have nanoseconds; Rekor reports
		// the second.
		s.leaves[i] = adopt.Leaf{Index: uint64(i), Value: v, LeafHash: lh, Integrated: t.Add(time.Duration(r.IntN(1e9)))}
		s.tree.Append(lh)
		s.bytes += len(v)
	}
	return s, nil
}

// template is a canonical entry split around its artifact hash (64 hex
// digits): any hash in between gives another canonical entry.
type template struct{ before, after []byte }

func rekorTemplates(n int) ([]template, error) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: time.Unix(1600000000, 0), NotAfter: time.Unix(1900000000, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	const marker = "0000000000000000000000000000000000000000000000000000000000000000"
	out := make([]template, n)
	for i := range out {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		var block *pem.Block
		if i%3 == 0 {
			der, _ := x509.MarshalPKIXPublicKey(k.Public())
			block = &pem.Block{Type: "PUBLIC KEY", Bytes: der}
		} else {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), NotBefore: time.Unix(1650000000, 0), NotAfter: time.Unix(1650000600, 0),
				EmailAddresses: []string{fmt.Sprintf("dev%d@example.com", i)}, KeyUsage: x509.KeyUsageDigitalSignature,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
			if err != nil {
				return nil, err
			}
			block = &pem.Block{Type: "CERTIFICATE", Bytes: der}
		}
		// Canonicalize checks the signature over the marker digest; the
		// leaves replace the digest, so their signatures do not verify.
		// The importer does not verify signatures (Rekor did when it
		// accepted the entry): it only needs their shape.
		var zero [32]byte
		sig, _ := ecdsa.SignASN1(rand.Reader, k, zero[:])
		req := fmt.Sprintf(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":%q}},"signature":{"content":%q,"publicKey":{"content":%q}}}}`,
			marker, base64.StdEncoding.EncodeToString(sig), base64.StdEncoding.EncodeToString(pem.EncodeToMemory(block)))
		e, err := rekorv1.Canonicalize([]byte(req), rekorv1.DefaultOptions())
		if err != nil {
			return nil, fmt.Errorf("couldn't canonicalize a benchmark entry: %w", err)
		}
		before, after, ok := strings.Cut(string(e.Canonical), marker)
		if !ok {
			return nil, errors.New("the canonical entry does not contain the artifact hash")
		}
		out[i] = template{[]byte(before), []byte(after)}
	}
	return out, nil
}

func (s *rekorSource) LatestRoot(context.Context) (adopt.Root, error) {
	return adopt.Root{Size: uint64(len(s.leaves)), Hash: s.tree.Hash()}, nil
}

func (s *rekorSource) Leaves(_ context.Context, start, count uint64) ([]adopt.Leaf, error) {
	if start >= uint64(len(s.leaves)) {
		return nil, fmt.Errorf("no leaf %d", start)
	}
	return s.leaves[start:min(start+count, uint64(len(s.leaves)))], nil
}

func (s *rekorSource) ConsistencyProof(_ context.Context, first, second uint64) ([][]byte, error) {
	return s.tree.ConsistencyProof(first, second)
}

// postgresCPU returns a function that reports the CPU time used so far by
// the PostgreSQL server at url and all its processes, when the server runs
// on this machine and its data directory is readable; else it reports
// false. Exited backends count through the postmaster's reaped-children
// times.
func postgresCPU(ctx context.Context, url string) func() (time.Duration, bool) {
	none := func() (time.Duration, bool) { return 0, false }
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return none
	}
	defer conn.Close(ctx)
	var dataDir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		return none
	}
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return none
	}
	postmaster, _, _ := strings.Cut(string(pidFile), "\n")
	// stat returns the parent pid and the times of /proc/<pid>/stat, in
	// clock ticks (USER_HZ, 100 on Linux).
	stat := func(pid string) (ppid string, self, children int64, ok bool) {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return "", 0, 0, false
		}
		// Fields after the command, which is in parentheses.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			return "", 0, 0, false
		}
		num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
		return f[1], num(f[11]) + num(f[12]), num(f[13]) + num(f[14]), true
	}
	if _, _, _, ok := stat(postmaster); !ok {
		return none
	}
	return func() (time.Duration, bool) {
		_, self, reaped, ok := stat(postmaster)
		if !ok {
			return 0, false
		}
		ticks := self + reaped
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			if ppid, self, _, ok := stat(p.Name()); ok && ppid == postmaster {
				ticks += self
			}
		}
		return time.Duration(ticks) * 10 * time.Millisecond, true
	}
}
