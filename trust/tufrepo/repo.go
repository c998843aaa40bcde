// Package tufrepo maintains a private TUF repository that distributes a
// Sigstore trusted root and signing config, so that `cosign initialize
// --mirror URL --root root.json` and sigstore-go's TUF client fetch them,
// verified, and see every later update.
//
// The repository is a directory any static file server can publish: top
// level root, targets, snapshot and timestamp metadata with consistent
// snapshots (N.root.json, N.targets.json, N.snapshot.json, timestamp.json)
// and hash-prefixed target files under targets/, the layout sigstore's
// public repository uses and both sigstore-go and cosign v2's legacy
// client expect. The metadata is built and signed with go-tuf's metadata
// package.
//
// Each role has keys and a threshold in root metadata. The online roles,
// snapshot and timestamp, have one Ed25519 key each in a keys directory
// kept apart from the published one, and are re-signed unattended. Root
// and targets are online the same way (one key, threshold 1) or offline:
// several key holders, a threshold, and a ceremony (ceremony.go) in which
// new metadata is proposed, signed by each holder on their own machine,
// checked against the thresholds of the previous root and of the new one,
// and only then published.
//
// Publication order is the invariant that makes updates safe on a live
// file server: new target files, then targets and snapshot metadata under
// new version numbers, then root, and timestamp.json last, each replaced
// by rename. A client reading at any moment sees either the old timestamp
// (and every file it names, which are never deleted) or the new one.
package tufrepo

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hallmark-dev/hallmark/internal/fileutil"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Expiries are the validity periods of the four roles' metadata.
type Expiries struct {
	Root, Targets, Snapshot, Timestamp time.Duration
}

const day = 24 * time.Hour

// DefaultExpiries suit a daily `hallmark tuf refresh`: a timestamp lives a
// week, so a few missed runs do not stop clients.
func DefaultExpiries() Expiries {
	return Expiries{Root: 365 * day, Targets: 180 * day, Snapshot: 30 * day, Timestamp: 7 * day}
}

func (e Expiries) of(role string) time.Duration {
	switch role {
	case metadata.ROOT:
		return e.Root
	case metadata.TARGETS:
		return e.Targets
	case metadata.SNAPSHOT:
		return e.Snapshot
	}
	return e.Timestamp
}

func (e Expiries) check() error {
	for _, r := range roles {
		if e.of(r) < time.Hour {
			return fmt.Errorf("%s expiry %v: want at least 1h", r, e.of(r))
		}
	}
	if e.Timestamp > e.Snapshot {
		return fmt.Errorf("timestamp expiry %v exceeds snapshot expiry %v", e.Timestamp, e.Snapshot)
	}
	return nil
}

var roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// settingsFile, in the keys directory, remembers the expiries chosen at
// init for later updates and refreshes.
const settingsFile = "settings.json"

type settings struct {
	Root      string `json:"root_expires"`
	Targets   string `json:"targets_expires"`
	Snapshot  string `json:"snapshot_expires"`
	Timestamp string `json:"timestamp_expires"`
}

// Repo is an open repository: its newest metadata, in memory.
type Repo struct {
	dir, keysDir string
	Expiries     Expiries
	now          time.Time
	lock         *os.File

	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
	files     map[string][]byte // target name → contents, for targets changed by this run

	dueOffline []string // offline roles the last Refresh found due
}

// Init creates a repository in dir (which must not exist or be empty)
// distributing c, with fresh role keys written to keysDir (0700, keys
// 0600), which must not lie under dir and must not hold keys already.
func Init(dir, keysDir string, c Content, exp Expiries, now time.Time) (*Repo, error) {
	targets, err := prepareInit(dir, keysDir, c, exp, now)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "targets"), 0o755); err != nil {
		return nil, err
	}
	r := &Repo{dir: dir, keysDir: keysDir, Expiries: exp, now: now.UTC().Truncate(time.Second)}
	if err := r.takeLock(); err != nil {
		return nil, err
	}
	r.root = metadata.Root(r.expires(metadata.ROOT))
	for _, role := range roles {
		if err := r.newOnlineKey(role); err != nil {
			return nil, err
		}
	}
	if err := r.saveSettings(); err != nil {
		return nil, err
	}
	r.targets = metadata.Targets(r.expires(metadata.TARGETS))
	r.setTargets(targets)
	r.snapshot = metadata.Snapshot(r.expires(metadata.SNAPSHOT))
	r.timestamp = metadata.Timestamp(r.expires(metadata.TIMESTAMP))
	if err := signOnline(r, metadata.ROOT, r.root); err != nil {
		return r, err
	}
	if err := signOnline(r, metadata.TARGETS, r.targets); err != nil {
		return r, err
	}
	return r, r.publish(true, true, true)
}

// prepareInit checks what Init and ProposeInit share: valid expiries, a
// keys directory apart from an empty repository directory, no role keys
// already there, and content that makes targets. It creates keysDir and
// returns the targets.
func prepareInit(dir, keysDir string, c Content, exp Expiries, now time.Time) ([]Target, error) {
	if err := exp.check(); err != nil {
		return nil, err
	}
	if err := separate(dir, keysDir); err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty: init creates a new repository", dir)
	}
	for _, r := range roles {
		if _, err := os.Stat(keyPath(keysDir, r)); err == nil {
			return nil, fmt.Errorf("%s exists: init does not overwrite role keys", keyPath(keysDir, r))
		}
	}
	targets, err := Targets(c, now)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		return nil, err
	}
	return targets, nil
}

// openLocked is a Repo of dir with the settings in keysDir loaded and the
// lock on keysDir taken, its metadata not yet read.
func openLocked(dir, keysDir string, now time.Time) (*Repo, error) {
	if err := separate(dir, keysDir); err != nil {
		return nil, err
	}
	r := &Repo{dir: dir, keysDir: keysDir, now: now.UTC().Truncate(time.Second)}
	if err := r.loadSettings(); err != nil {
		return nil, err
	}
	if err := r.takeLock(); err != nil {
		return nil, err
	}
	return r, nil
}

// Open loads the newest metadata of the repository in dir and the
// settings in keysDir; role keys are read when a role is signed. It holds
// a lock on keysDir until Close, so a cron refresh and a manual update do
// not interleave.
func Open(dir, keysDir string, now time.Time) (*Repo, error) {
	r, err := openLocked(dir, keysDir, now)
	if err != nil {
		return nil, err
	}
	// The newest root is the last of 1.root.json, 2.root.json, … .
	for v := 1; ; v++ {
		m, err := metadata.Root().FromFile(filepath.Join(dir, fmt.Sprintf("%d.root.json", v)))
		if errors.Is(err, fs.ErrNotExist) && r.root != nil {
			break
		}
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("couldn't read %d.root.json: %w", v, err)
		}
		r.root = m
	}
	if r.timestamp, err = metadata.Timestamp().FromFile(filepath.Join(dir, "timestamp.json")); err != nil {
		r.Close()
		return nil, fmt.Errorf("couldn't read timestamp.json: %w", err)
	}
	sv := r.timestamp.Signed.Meta["snapshot.json"].Version
	if r.snapshot, err = metadata.Snapshot().FromFile(filepath.Join(dir, fmt.Sprintf("%d.snapshot.json", sv))); err != nil {
		r.Close()
		return nil, fmt.Errorf("couldn't read %d.snapshot.json: %w", sv, err)
	}
	tv := r.snapshot.Signed.Meta["targets.json"].Version
	if r.targets, err = metadata.Targets().FromFile(filepath.Join(dir, fmt.Sprintf("%d.targets.json", tv))); err != nil {
		r.Close()
		return nil, fmt.Errorf("couldn't read %d.targets.json: %w", tv, err)
	}
	if err := r.verify(); err != nil {
		r.Close()
		return nil, fmt.Errorf("the published repository does not verify: %w", err)
	}
	return r, nil
}

// Close releases the lock on the keys directory.
func (r *Repo) Close() error {
	if r.lock == nil {
		return nil
	}
	err := r.lock.Close()
	r.lock = nil
	return err
}

// Versions returns the version of each role's newest metadata.
func (r *Repo) Versions() map[string]int64 {
	return map[string]int64{
		metadata.ROOT: r.root.Signed.Version, metadata.TARGETS: r.targets.Signed.Version,
		metadata.SNAPSHOT: r.snapshot.Signed.Version, metadata.TIMESTAMP: r.timestamp.Signed.Version,
	}
}

// Target returns the published contents of a target, checked against its
// length and hashes in the targets metadata.
func (r *Repo) Target(name string) ([]byte, error) {
	tf, ok := r.targets.Signed.Targets[name]
	if !ok {
		return nil, fmt.Errorf("no target %s", name)
	}
	if b, ok := r.files[name]; ok {
		return b, nil
	}
	h := tf.Hashes["sha256"]
	b, err := os.ReadFile(filepath.Join(r.dir, "targets", hex.EncodeToString(h)+"."+name))
	if err != nil {
		return nil, err
	}
	if err := tf.VerifyLengthHashes(b); err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	return b, nil
}

// Update publishes new content: a nil TrustedRoot or SigningConfig keeps
// the published one. It returns false, and writes nothing, when the
// targets would not change.
func (r *Repo) Update(c Content) (bool, error) {
	c, err := r.complete(c)
	if err != nil {
		return false, err
	}
	targets, err := Targets(c, r.now)
	if err != nil {
		return false, err
	}
	if r.sameTargets(targets) {
		return false, nil
	}
	r.setTargets(targets)
	r.targets.Signed.Version++
	r.targets.Signed.Expires = r.expires(metadata.TARGETS)
	if err := signOnline(r, metadata.TARGETS, r.targets); errors.Is(err, ErrOffline) {
		return false, fmt.Errorf("publish new targets with `hallmark tuf propose`, then `sign` and `publish`: %w", err)
	} else if err != nil {
		return false, err
	}
	return true, r.publish(false, true, true)
}

// Refresh re-signs, under new versions, the roles whose metadata has less
// than half its validity period left (all of them with force). Re-signing
// targets re-signs snapshot, and snapshot re-signs timestamp. It returns
// the roles re-signed; none means nothing was written. Offline roles
// (root or targets signed by key holders) are never re-signed here: those
// due are listed by DueOffline, for a ceremony.
func (r *Repo) Refresh(force bool) ([]string, error) {
	due := func(role string, expires time.Time) bool {
		return force || expires.Sub(r.now) < r.Expiries.of(role)/2
	}
	r.dueOffline = nil
	rootDue := due(metadata.ROOT, r.root.Signed.Expires)
	if rootDue && !r.Online(metadata.ROOT) {
		r.dueOffline = append(r.dueOffline, metadata.ROOT)
		rootDue = false
	}
	targetsDue := due(metadata.TARGETS, r.targets.Signed.Expires)
	if targetsDue && !r.Online(metadata.TARGETS) {
		r.dueOffline = append(r.dueOffline, metadata.TARGETS)
		targetsDue = false
	}
	snapshotDue := targetsDue || due(metadata.SNAPSHOT, r.snapshot.Signed.Expires)
	timestampDue := rootDue || snapshotDue || due(metadata.TIMESTAMP, r.timestamp.Signed.Expires)
	var done []string
	if rootDue {
		r.root.Signed.Version++
		r.root.Signed.Expires = r.expires(metadata.ROOT)
		if err := signOnline(r, metadata.ROOT, r.root); err != nil {
			return nil, err
		}
		done = append(done, metadata.ROOT)
	}
	if targetsDue {
		r.targets.Signed.Version++
		r.targets.Signed.Expires = r.expires(metadata.TARGETS)
		if err := signOnline(r, metadata.TARGETS, r.targets); err != nil {
			return nil, err
		}
		done = append(done, metadata.TARGETS)
	}
	if snapshotDue {
		done = append(done, metadata.SNAPSHOT)
	}
	if timestampDue {
		done = append(done, metadata.TIMESTAMP)
	}
	if !timestampDue {
		return nil, nil
	}
	return done, r.publish(rootDue, targetsDue, snapshotDue)
}

// DueOffline returns the offline roles the last Refresh found due for
// re-signing (less than half their validity left): their key holders
// must sign a proposal (Propose with RefreshRoot or RefreshTargets).
func (r *Repo) DueOffline() []string { return r.dueOffline }

// Expires returns when each role's newest metadata expires.
func (r *Repo) Expires() map[string]time.Time {
	return map[string]time.Time{
		metadata.ROOT: r.root.Signed.Expires, metadata.TARGETS: r.targets.Signed.Expires,
		metadata.SNAPSHOT: r.snapshot.Signed.Expires, metadata.TIMESTAMP: r.timestamp.Signed.Expires,
	}
}

// publish writes new metadata: root when newRoot and targets when
// newTargets, as they are (signed by the caller, online or in a
// ceremony; the root version already set, 1 at init); snapshot, signed
// here, when newSnapshot or newTargets (naming r.targets' version); and
// always a new timestamp, signed here.
func (r *Repo) publish(newRoot, newTargets, newSnapshot bool) error {
	var rootJSON, targetsJSON, snapshotJSON []byte
	var err error
	if newRoot {
		if rootJSON, err = r.root.ToBytes(true); err != nil {
			return err
		}
	}
	if newTargets {
		if targetsJSON, err = r.targets.ToBytes(true); err != nil {
			return err
		}
		r.snapshot.Signed.Meta["targets.json"] = metaFile(r.targets.Signed.Version, targetsJSON)
		newSnapshot = true
	}
	if newSnapshot {
		if len(r.snapshot.Signatures) > 0 {
			r.snapshot.Signed.Version++
		}
		r.snapshot.Signed.Expires = r.expires(metadata.SNAPSHOT)
		if err := signOnline(r, metadata.SNAPSHOT, r.snapshot); err != nil {
			return err
		}
		if snapshotJSON, err = r.snapshot.ToBytes(true); err != nil {
			return err
		}
		r.timestamp.Signed.Meta["snapshot.json"] = metaFile(r.snapshot.Signed.Version, snapshotJSON)
	}
	if len(r.timestamp.Signatures) > 0 {
		r.timestamp.Signed.Version++
	}
	r.timestamp.Signed.Expires = r.expires(metadata.TIMESTAMP)
	if err := signOnline(r, metadata.TIMESTAMP, r.timestamp); err != nil {
		return err
	}
	timestampJSON, err := r.timestamp.ToBytes(true)
	if err != nil {
		return err
	}
	// Verify what we serve, before a byte of it is written.
	if err := r.verify(); err != nil {
		return fmt.Errorf("new metadata does not verify: %w", err)
	}

	// Target files first: nothing names them yet.
	for name, data := range r.files {
		tf := r.targets.Signed.Targets[name]
		path := filepath.Join(r.dir, "targets", hex.EncodeToString(tf.Hashes["sha256"])+"."+name)
		if err := writeAtomic(path, data, 0o644); err != nil {
			return err
		}
	}
	if targetsJSON != nil {
		if err := writeAtomic(filepath.Join(r.dir, fmt.Sprintf("%d.targets.json", r.targets.Signed.Version)), targetsJSON, 0o644); err != nil {
			return err
		}
	}
	if snapshotJSON != nil {
		if err := writeAtomic(filepath.Join(r.dir, fmt.Sprintf("%d.snapshot.json", r.snapshot.Signed.Version)), snapshotJSON, 0o644); err != nil {
			return err
		}
	}
	// If we die here, the old timestamp still names the old snapshot and
	// targets, which are all in place: clients see the previous version.
	if rootJSON != nil {
		if err := writeAtomic(filepath.Join(r.dir, fmt.Sprintf("%d.root.json", r.root.Signed.Version)), rootJSON, 0o644); err != nil {
			return err
		}
		// root.json is the newest root, for people and for --root URLs.
		if err := writeAtomic(filepath.Join(r.dir, "root.json"), rootJSON, 0o644); err != nil {
			return err
		}
	}
	// The switch: clients that read this timestamp see the new version.
	if err := writeAtomic(filepath.Join(r.dir, "timestamp.json"), timestampJSON, 0o644); err != nil {
		return err
	}
	return r.promoteKeys()
}

// verify checks the in-memory metadata as a client would: every role
// signed by the keys root names for it, the snapshot and targets the
// timestamp and snapshot pin, and target files of this run.
func (r *Repo) verify() error {
	if err := r.root.VerifyDelegate(metadata.ROOT, r.root); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if err := r.root.VerifyDelegate(metadata.TARGETS, r.targets); err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	if err := r.root.VerifyDelegate(metadata.SNAPSHOT, r.snapshot); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := r.root.VerifyDelegate(metadata.TIMESTAMP, r.timestamp); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	if got, want := r.timestamp.Signed.Meta["snapshot.json"].Version, r.snapshot.Signed.Version; got != want {
		return fmt.Errorf("timestamp names snapshot version %d, have %d", got, want)
	}
	if got, want := r.snapshot.Signed.Meta["targets.json"].Version, r.targets.Signed.Version; got != want {
		return fmt.Errorf("snapshot names targets version %d, have %d", got, want)
	}
	for name, data := range r.files {
		if err := r.targets.Signed.Targets[name].VerifyLengthHashes(data); err != nil {
			return fmt.Errorf("target %s: %w", name, err)
		}
	}
	return nil
}

func (r *Repo) expires(role string) time.Time { return r.now.Add(r.Expiries.of(role)) }

// setTargets replaces the targets metadata's target list.
func (r *Repo) setTargets(ts []Target) { r.files = fillTargets(r.targets, ts) }

// fillTargets replaces m's target list with ts and returns their files.
func fillTargets(m *metadata.Metadata[metadata.TargetsType], ts []Target) map[string][]byte {
	m.Signed.Targets = map[string]*metadata.TargetFiles{}
	files := map[string][]byte{}
	for _, t := range ts {
		tf, _ := metadata.TargetFile().FromBytes(t.Name, t.Data, "sha256")
		tf.Path = t.Name
		if t.Custom != nil {
			c := json.RawMessage(append([]byte(nil), t.Custom...))
			tf.Custom = &c
		}
		m.Signed.Targets[t.Name] = tf
		files[t.Name] = t.Data
	}
	return files
}

// newOnlineKey writes a new Ed25519 key for role to the keys directory
// (never over an existing one) and names it in r.root.
func (r *Repo) newOnlineKey(role string) error {
	return addNewKey(r.root, keyPath(r.keysDir, role), role)
}

// addNewKey writes a new Ed25519 key to path (never over an existing
// file) and names it for role in root, beside the role's other keys.
func addNewKey(root *metadata.Metadata[metadata.RootType], path, role string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	key, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		return err
	}
	return root.Signed.AddKey(key, role)
}

// sameTargets reports whether ts is exactly the published target list.
func (r *Repo) sameTargets(ts []Target) bool {
	if len(ts) != len(r.targets.Signed.Targets) {
		return false
	}
	for _, t := range ts {
		tf, ok := r.targets.Signed.Targets[t.Name]
		if !ok || tf.VerifyLengthHashes(t.Data) != nil {
			return false
		}
		var have []byte
		if tf.Custom != nil {
			have = *tf.Custom
		}
		if !jsonEqual(have, t.Custom) {
			return false
		}
	}
	return true
}

func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func metaFile(version int64, data []byte) *metadata.MetaFiles {
	h := sha256.Sum256(data)
	return &metadata.MetaFiles{Version: version, Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": h[:]}}
}

// ErrOffline is returned when a role's metadata must be signed but its
// keys are not in the keys directory: its key holders sign it in a
// ceremony (Propose, Proposal.Sign, Publish).
var ErrOffline = errors.New("the role is signed offline by its key holders")

// Online reports whether role can be signed unattended: the keys
// directory holds a key root names for it, and its threshold is 1.
func (r *Repo) Online(role string) bool { return onlineIn(r.keysDir, r.root, role) }

func onlineIn(keysDir string, root *metadata.Metadata[metadata.RootType], role string) bool {
	rl := root.Signed.Roles[role]
	if rl == nil || rl.Threshold != 1 {
		return false
	}
	_, err := namedKey(keysDir, rl, role)
	return err == nil
}

// nextSuffix marks a role key that a proposed root names in place of the
// current one (Propose with RotateOnline): it signs once that root is
// published, and then replaces the current key file.
const nextSuffix = ".next"

// namedKey returns the role's key in the keys directory that rl names:
// the current key file, or the next one during an online key rotation.
func namedKey(keysDir string, rl *metadata.Role, role string) (ed25519.PrivateKey, error) {
	path := keyPath(keysDir, role)
	var first error
	for _, p := range []string{path, path + nextSuffix} {
		priv, err := readKey(p)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		id, err := keyID(priv.Public())
		if err != nil {
			return nil, err
		}
		if slices.Contains(rl.KeyIDs, id) {
			return priv, nil
		}
		if first == nil || errors.Is(first, fs.ErrNotExist) {
			first = fmt.Errorf("%s is not a key root.json names for the %s role", p, role)
		}
	}
	return nil, first
}

// promoteKeys makes a published rotation's next key files current: once
// the root naming them is published, the old keys sign nothing any more.
// A crash before it leaves the next file, which namedKey still finds.
func (r *Repo) promoteKeys() error {
	for _, role := range roles {
		path := keyPath(r.keysDir, role)
		priv, err := readKey(path + nextSuffix)
		if err != nil {
			continue
		}
		if id, err := keyID(priv.Public()); err == nil && named(r.root, role, id) {
			if err := os.Rename(path+nextSuffix, path); err != nil {
				return fmt.Errorf("the rotation is published, but the new %s key could not replace the old one: %w", role, err)
			}
		}
	}
	return nil
}

// roleKeys describes a role's keys for messages: "targets (2 of 3 keys)".
func (r *Repo) roleKeys(role string) string {
	rl := r.root.Signed.Roles[role]
	return fmt.Sprintf("%s (%d of %d keys)", role, rl.Threshold, len(rl.KeyIDs))
}

// signOnline replaces a role's signatures with one by its key in the keys
// directory, checked to be a key root names for the role with threshold 1.
func signOnline[T metadata.Roles](r *Repo, role string, m *metadata.Metadata[T]) error {
	rl := r.root.Signed.Roles[role]
	if rl.Threshold != 1 {
		return fmt.Errorf("%s needs %d signatures and the keys directory holds one key: %w", r.roleKeys(role), rl.Threshold, ErrOffline)
	}
	priv, err := namedKey(r.keysDir, rl, role)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no %s in the keys directory: %w", r.roleKeys(role), keyPath(r.keysDir, role), ErrOffline)
	}
	if err != nil {
		return fmt.Errorf("the %s key: %w", role, err)
	}
	m.ClearSignatures()
	return signWith(m, priv)
}

func keyPath(keysDir, role string) string { return filepath.Join(keysDir, role+".pem") }

func readKey(path string) (ed25519.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := format.ParsePrivateKeyPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T, want an Ed25519 key", path, k)
	}
	return priv, nil
}

// separate refuses a keys directory inside the published one.
func separate(dir, keysDir string) error {
	d, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	k, err := filepath.Abs(keysDir)
	if err != nil {
		return err
	}
	if k == d || strings.HasPrefix(k, d+string(filepath.Separator)) {
		return fmt.Errorf("keys directory %s lies inside the published repository %s: keep role keys out of it", keysDir, dir)
	}
	return nil
}

func (r *Repo) takeLock() error {
	f, err := os.OpenFile(filepath.Join(r.keysDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("another hallmark tuf command holds %s: %w", f.Name(), err)
	}
	r.lock = f
	return nil
}

func (r *Repo) saveSettings() error {
	s := settings{r.Expiries.Root.String(), r.Expiries.Targets.String(), r.Expiries.Snapshot.String(), r.Expiries.Timestamp.String()}
	b, _ := json.MarshalIndent(s, "", "  ")
	return writeAtomic(filepath.Join(r.keysDir, settingsFile), append(b, '\n'), 0o600)
}

func (r *Repo) loadSettings() error {
	raw, err := os.ReadFile(filepath.Join(r.keysDir, settingsFile))
	if err != nil {
		return fmt.Errorf("is %s the keys directory of a repository made by `hallmark tuf init`? %w", r.keysDir, err)
	}
	var s settings
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("%s: %w", settingsFile, err)
	}
	for _, f := range []struct {
		s string
		d *time.Duration
	}{{s.Root, &r.Expiries.Root}, {s.Targets, &r.Expiries.Targets}, {s.Snapshot, &r.Expiries.Snapshot}, {s.Timestamp, &r.Expiries.Timestamp}} {
		if *f.d, err = time.ParseDuration(f.s); err != nil {
			return fmt.Errorf("%s: %w", settingsFile, err)
		}
	}
	return r.Expiries.check()
}

// SetExpiries changes the validity periods used from now on, and
// remembers them for later runs.
func (r *Repo) SetExpiries(e Expiries) error {
	if err := e.check(); err != nil {
		return err
	}
	r.Expiries = e
	return r.saveSettings()
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeAtomic replaces path by rename (fileutil.WriteFileAtomic: synced,
// directory included), so a file server never serves a half-written file
// and a crash never leaves one.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	return fileutil.WriteFileAtomic(path, data, perm)
}
