package tufrepo

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The ceremony changes what only key holders may sign (root, and targets
// when it is offline) in four steps, each of which may run on another
// machine:
//
//  1. Propose (or ProposeInit, for a new repository) writes the new
//     metadata, unsigned, with its version, expiry, keys and thresholds,
//     into a proposal file, beside the root in force (the previous root).
//     Parts whose keys are online are signed there and then.
//  2. Each key holder runs Proposal.Sign with their key (a file, an HSM
//     or a KMS key: any crypto.Signer) on the proposal alone: it needs
//     neither the repository nor the other keys, and appends a signature
//     to every part the key may sign.
//  3. Proposal.Check counts valid signatures against each threshold: a
//     new root against the previous root's root role AND its own (TUF
//     clients check both), new targets against the targets role of the
//     root that will be in force.
//  4. Publish refuses a proposal short of a threshold, or made against a
//     root or targets version that is no longer the published one, and
//     otherwise publishes it with fresh snapshot and timestamp metadata,
//     signed online.

// ErrBelowThreshold is returned when a part of a proposal carries fewer
// valid signatures than a threshold it must meet.
var ErrBelowThreshold = errors.New("not enough signatures")

// proposalFormat names the proposal file format.
const proposalFormat = "hallmark-tuf-proposal-v1"

// RoleKeys are the keys of an offline role and how many must sign.
type RoleKeys struct {
	Keys      []crypto.PublicKey
	Threshold int
}

// Proposal is new root and/or targets metadata awaiting signatures.
type Proposal struct {
	// Previous is the root in force when the proposal was made; nil when
	// the proposal creates the repository.
	Previous *metadata.Metadata[metadata.RootType]
	// Root is the new root (Previous's version + 1, or 1), or nil.
	Root *metadata.Metadata[metadata.RootType]
	// Targets is the new targets metadata, or nil.
	Targets *metadata.Metadata[metadata.TargetsType]
	// Files holds the target files Targets lists that are new or changed.
	Files map[string][]byte
}

type proposalJSON struct {
	Format   string            `json:"format"`
	Previous json.RawMessage   `json:"previous_root,omitempty"`
	Root     json.RawMessage   `json:"root,omitempty"`
	Targets  json.RawMessage   `json:"targets,omitempty"`
	Files    map[string][]byte `json:"files,omitempty"`
}

// MaxProposalBytes bounds a proposal file: a trusted root, a signing
// config and their legacy targets are a few kilobytes.
const MaxProposalBytes = 16 << 20

// Marshal encodes the proposal as its file format (JSON).
func (p *Proposal) Marshal() ([]byte, error) {
	j := proposalJSON{Format: proposalFormat, Files: p.Files}
	var err error
	if p.Previous != nil {
		if j.Previous, err = p.Previous.ToBytes(false); err != nil {
			return nil, err
		}
	}
	if p.Root != nil {
		if j.Root, err = p.Root.ToBytes(false); err != nil {
			return nil, err
		}
	}
	if p.Targets != nil {
		if j.Targets, err = p.Targets.ToBytes(false); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(j, "", "  ")
	return append(b, '\n'), err
}

// ParseProposal decodes a proposal file. It checks the form (metadata
// types, target names and files); Check checks the content.
func ParseProposal(data []byte) (*Proposal, error) {
	if len(data) > MaxProposalBytes {
		return nil, fmt.Errorf("proposal of %d bytes: at most %d", len(data), MaxProposalBytes)
	}
	var j proposalJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("not a proposal: %w", err)
	}
	if j.Format != proposalFormat {
		return nil, fmt.Errorf("format %q, want %q", j.Format, proposalFormat)
	}
	p := &Proposal{Files: j.Files}
	var err error
	if len(j.Previous) > 0 {
		if p.Previous, err = metadata.Root().FromBytes(j.Previous); err != nil {
			return nil, fmt.Errorf("previous root: %w", err)
		}
	}
	if len(j.Root) > 0 {
		if p.Root, err = metadata.Root().FromBytes(j.Root); err != nil {
			return nil, fmt.Errorf("root: %w", err)
		}
	}
	if len(j.Targets) > 0 {
		if p.Targets, err = metadata.Targets().FromBytes(j.Targets); err != nil {
			return nil, fmt.Errorf("targets: %w", err)
		}
	}
	if p.Root == nil && p.Targets == nil {
		return nil, errors.New("the proposal holds neither root nor targets metadata")
	}
	if p.Previous == nil && p.Root == nil {
		return nil, errors.New("the proposal names no root: neither a previous root nor a new one")
	}
	if p.Targets == nil && len(p.Files) > 0 {
		return nil, errors.New("target files without targets metadata")
	}
	if p.Targets != nil {
		for name := range p.Targets.Signed.Targets {
			if !plainName(name) {
				return nil, fmt.Errorf("target name %q: want a plain file name", name)
			}
		}
		if p.Targets.Signed.Delegations != nil {
			return nil, errors.New("targets metadata with delegations: hallmark publishes top-level targets only")
		}
	}
	for name, data := range p.Files {
		if !plainName(name) {
			return nil, fmt.Errorf("target name %q: want a plain file name", name)
		}
		tf, ok := p.Targets.Signed.Targets[name]
		if !ok {
			return nil, fmt.Errorf("target file %s is not in the targets metadata", name)
		}
		if err := tf.VerifyLengthHashes(data); err != nil {
			return nil, fmt.Errorf("target file %s: %w", name, err)
		}
	}
	return p, nil
}

func plainName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00")
}

// authority is the root whose targets role must sign p.Targets: the new
// root if p has one, else the previous root.
func (p *Proposal) authority() *metadata.Metadata[metadata.RootType] {
	if p.Root != nil {
		return p.Root
	}
	return p.Previous
}

// Sign appends a signature by s to each part of the proposal whose
// threshold its key counts towards (a root key of the previous or the
// new root signs the new root; a targets key of the root in force signs
// the targets), replacing an earlier signature by the same key. It
// returns the parts signed ("root v3", "targets v7").
func (p *Proposal) Sign(s crypto.Signer) ([]string, error) {
	id, err := keyID(s.Public())
	if err != nil {
		return nil, err
	}
	var done []string
	if p.Root != nil && (named(p.Previous, metadata.ROOT, id) || named(p.Root, metadata.ROOT, id)) {
		dropSignature(&p.Root.Signatures, id)
		if err := signWith(p.Root, s); err != nil {
			return nil, err
		}
		done = append(done, fmt.Sprintf("root v%d", p.Root.Signed.Version))
	}
	if p.Targets != nil && named(p.authority(), metadata.TARGETS, id) {
		dropSignature(&p.Targets.Signatures, id)
		if err := signWith(p.Targets, s); err != nil {
			return nil, err
		}
		done = append(done, fmt.Sprintf("targets v%d", p.Targets.Signed.Version))
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("key %s is not a key of any role this proposal needs signed: nothing signed", short(id))
	}
	return done, nil
}

func named(root *metadata.Metadata[metadata.RootType], role, id string) bool {
	return root != nil && root.Signed.Roles[role] != nil && slices.Contains(root.Signed.Roles[role].KeyIDs, id)
}

func dropSignature(sigs *[]metadata.Signature, id string) {
	*sigs = slices.DeleteFunc(*sigs, func(s metadata.Signature) bool { return s.KeyID == id })
}

// Status is how far one part of a proposal is from one threshold.
type Status struct {
	Part      string   // "root v3" or "targets v7"
	Against   string   // whose threshold: "root v2" (the previous root), "root v3" (itself)
	Signers   []string // IDs of the keys whose signatures verify
	Threshold int
	Keys      int  // how many keys the role names
	Met       bool // as go-tuf's client decides it
}

func (s Status) String() string {
	ids := make([]string, len(s.Signers))
	for i, id := range s.Signers {
		ids[i] = short(id)
	}
	verdict := "threshold met"
	if !s.Met {
		verdict = fmt.Sprintf("%d more needed", max(s.Threshold-len(s.Signers), 1))
	}
	return fmt.Sprintf("%s under %s: %d of the %d signatures required (%d keys) [%s]: %s",
		s.Part, s.Against, len(s.Signers), s.Threshold, s.Keys, strings.Join(ids, " "), verdict)
}

// Check validates the proposal at time now (versions follow the previous
// root, every role has a threshold its keys can meet, nothing has
// expired) and counts its signatures against every threshold it must
// meet. The error wraps ErrBelowThreshold when a threshold is not met.
func (p *Proposal) Check(now time.Time) ([]Status, error) {
	if err := p.validate(now); err != nil {
		return nil, err
	}
	var out []Status
	if p.Root != nil {
		if p.Previous != nil {
			out = append(out, count(p.Previous, metadata.ROOT, p.Root, fmt.Sprintf("root v%d", p.Root.Signed.Version)))
		}
		out = append(out, count(p.Root, metadata.ROOT, p.Root, fmt.Sprintf("root v%d", p.Root.Signed.Version)))
	}
	if p.Targets != nil {
		out = append(out, count(p.authority(), metadata.TARGETS, p.Targets, fmt.Sprintf("targets v%d", p.Targets.Signed.Version)))
	}
	var short []string
	for _, s := range out {
		if !s.Met {
			short = append(short, s.String())
		}
	}
	if len(short) > 0 {
		return out, fmt.Errorf("%s: %w", strings.Join(short, "; "), ErrBelowThreshold)
	}
	return out, nil
}

func (p *Proposal) validate(now time.Time) error {
	if p.Root != nil {
		want := int64(1)
		if p.Previous != nil {
			want = p.Previous.Signed.Version + 1
		}
		if p.Root.Signed.Version != want {
			return fmt.Errorf("root version %d: the previous root is v%d, so want v%d", p.Root.Signed.Version, want-1, want)
		}
		if !p.Root.Signed.ConsistentSnapshot {
			return errors.New("root without consistent_snapshot: hallmark publishes consistent snapshots")
		}
		if !p.Root.Signed.Expires.After(now) {
			return fmt.Errorf("root v%d expired at %s", p.Root.Signed.Version, p.Root.Signed.Expires.Format(time.RFC3339))
		}
		for _, role := range roles {
			rl := p.Root.Signed.Roles[role]
			if rl == nil {
				return fmt.Errorf("root v%d has no %s role", p.Root.Signed.Version, role)
			}
			if rl.Threshold < 1 || rl.Threshold > len(rl.KeyIDs) {
				return fmt.Errorf("root v%d: %s threshold %d with %d keys: want between 1 and the number of keys", p.Root.Signed.Version, role, rl.Threshold, len(rl.KeyIDs))
			}
			for _, id := range rl.KeyIDs {
				k, ok := p.Root.Signed.Keys[id]
				if !ok {
					return fmt.Errorf("root v%d: %s key %s is not among its keys", p.Root.Signed.Version, role, short(id))
				}
				if got, err := k.ID(); err != nil || got != id {
					return fmt.Errorf("root v%d: key listed as %s has ID %s", p.Root.Signed.Version, short(id), short(got))
				}
			}
		}
	}
	if p.Targets != nil {
		if !p.Targets.Signed.Expires.After(now) {
			return fmt.Errorf("targets v%d expired at %s", p.Targets.Signed.Version, p.Targets.Signed.Expires.Format(time.RFC3339))
		}
		if p.Previous == nil && p.Targets.Signed.Version != 1 {
			return fmt.Errorf("targets version %d in a new repository: want 1", p.Targets.Signed.Version)
		}
		if _, ok := p.Targets.Signed.Targets[TrustedRootTarget]; !ok {
			return fmt.Errorf("targets v%d lists no %s", p.Targets.Signed.Version, TrustedRootTarget)
		}
	} else if p.Previous == nil {
		return errors.New("a new repository needs targets metadata")
	}
	return nil
}

// count checks m's signatures one key of the authority's role at a time
// (with go-tuf's own verification), then decides with go-tuf's
// VerifyDelegate, which is what clients run.
func count[T metadata.Roles](auth *metadata.Metadata[metadata.RootType], role string, m *metadata.Metadata[T], part string) Status {
	rl := auth.Signed.Roles[role]
	s := Status{Part: part, Against: fmt.Sprintf("root v%d", auth.Signed.Version), Threshold: rl.Threshold, Keys: len(rl.KeyIDs)}
	for _, id := range rl.KeyIDs {
		k, ok := auth.Signed.Keys[id]
		if !ok {
			continue
		}
		one := metadata.Root()
		one.Signed.Keys = map[string]*metadata.Key{id: k}
		one.Signed.Roles[role] = &metadata.Role{KeyIDs: []string{id}, Threshold: 1}
		if one.VerifyDelegate(role, m) == nil {
			s.Signers = append(s.Signers, id)
		}
	}
	s.Met = auth.VerifyDelegate(role, m) == nil
	return s
}

// Summary describes the proposal for the people who sign it: versions,
// expiries, each role's keys and threshold, and every target's hash.
func (p *Proposal) Summary() string {
	var b strings.Builder
	if p.Previous != nil {
		fmt.Fprintf(&b, "previous root: v%d\n", p.Previous.Signed.Version)
	} else {
		b.WriteString("previous root: none (a new repository)\n")
	}
	if r := p.Root; r != nil {
		fmt.Fprintf(&b, "root v%d, expires %s\n", r.Signed.Version, r.Signed.Expires.Format(time.RFC3339))
		for _, role := range roles {
			rl := r.Signed.Roles[role]
			if rl == nil {
				continue
			}
			ids := make([]string, len(rl.KeyIDs))
			for i, id := range rl.KeyIDs {
				ids[i] = short(id)
				if k := r.Signed.Keys[id]; k != nil {
					ids[i] += " (" + k.Type + ")"
				}
			}
			change := ""
			if p.Previous != nil && !sameRole(p.Previous, r, role) {
				change = "  [changed]"
			}
			fmt.Fprintf(&b, "  %-9s %d of %d: %s%s\n", role, rl.Threshold, len(rl.KeyIDs), strings.Join(ids, ", "), change)
		}
	}
	if t := p.Targets; t != nil {
		fmt.Fprintf(&b, "targets v%d, expires %s\n", t.Signed.Version, t.Signed.Expires.Format(time.RFC3339))
		names := make([]string, 0, len(t.Signed.Targets))
		for n := range t.Signed.Targets {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			tf := t.Signed.Targets[n]
			mark := ""
			if _, ok := p.Files[n]; ok {
				mark = "  [new]"
			}
			fmt.Fprintf(&b, "  %s  sha256:%s  %d bytes%s\n", n, hex.EncodeToString(tf.Hashes["sha256"]), tf.Length, mark)
		}
	}
	return b.String()
}

func sameRole(a, b *metadata.Metadata[metadata.RootType], role string) bool {
	ra, rb := a.Signed.Roles[role], b.Signed.Roles[role]
	if ra == nil || rb == nil {
		return ra == rb
	}
	x, y := slices.Clone(ra.KeyIDs), slices.Clone(rb.KeyIDs)
	slices.Sort(x)
	slices.Sort(y)
	return ra.Threshold == rb.Threshold && slices.Equal(x, y)
}

func short(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

// InitOptions configure a repository whose root or targets keys are held
// offline. A nil role gets one online key in the keys directory.
type InitOptions struct {
	Expiries      Expiries
	Root, Targets *RoleKeys
}

// ProposeInit prepares a new repository in dir whose root and/or targets
// are offline: it writes the online keys (snapshot, timestamp, and root
// or targets when not offline) and the settings to keysDir, and returns
// the proposal of root v1 and targets v1, signed by the online keys only.
// Publish publishes it once its key holders have signed it.
func ProposeInit(dir, keysDir string, c Content, o InitOptions, now time.Time) (*Proposal, error) {
	if o.Root == nil && o.Targets == nil {
		return nil, errors.New("no offline role: Init creates a repository with online keys")
	}
	targets, err := prepareInit(dir, keysDir, c, o.Expiries, now)
	if err != nil {
		return nil, err
	}
	r := &Repo{dir: dir, keysDir: keysDir, Expiries: o.Expiries, now: now.UTC().Truncate(time.Second)}
	if err := r.takeLock(); err != nil {
		return nil, err
	}
	defer r.Close()
	r.root = metadata.Root(r.expires(metadata.ROOT))
	offline := map[string]*RoleKeys{metadata.ROOT: o.Root, metadata.TARGETS: o.Targets}
	for _, role := range roles {
		if rk := offline[role]; rk != nil {
			if err := setRoleKeys(r.root, role, rk); err != nil {
				return nil, err
			}
			continue
		}
		if err := r.newOnlineKey(role); err != nil {
			return nil, err
		}
	}
	if err := r.saveSettings(); err != nil {
		return nil, err
	}
	r.targets = metadata.Targets(r.expires(metadata.TARGETS))
	files := fillTargets(r.targets, targets)
	p := &Proposal{Root: r.root, Targets: r.targets, Files: files}
	if r.Online(metadata.ROOT) {
		if err := signOnline(r, metadata.ROOT, p.Root); err != nil {
			return nil, err
		}
	}
	if r.Online(metadata.TARGETS) {
		if err := signOnline(r, metadata.TARGETS, p.Targets); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ProposeOptions say what a proposal changes. At least one is needed.
type ProposeOptions struct {
	// Content is new targets content (a nil file keeps the published one).
	Content *Content
	// Root and Targets replace a role's keys and threshold.
	Root, Targets *RoleKeys
	// RefreshRoot and RefreshTargets give the role a new version and
	// expiry even when nothing else changes it (an offline role's re-signing).
	RefreshRoot, RefreshTargets bool
	// RotateOnline replaces the keys of these online roles (snapshot,
	// timestamp) with new ones, written to the keys directory as
	// <role>.pem.next; they replace <role>.pem when the root is published.
	RotateOnline []string
}

// Propose prepares a change of the published repository: a new root when
// keys or thresholds change or RefreshRoot, new targets when the content
// changes, the targets keys or threshold change (the old signatures no
// longer count) or RefreshTargets. Parts that keys in the keys directory
// may sign (the online root or targets key, still named by the root in
// force) are signed now; the rest await their key holders. Propose
// writes nothing.
func (r *Repo) Propose(o ProposeOptions) (*Proposal, error) {
	prev, err := cloneMeta(r.root)
	if err != nil {
		return nil, err
	}
	p := &Proposal{Previous: prev}
	if o.Root != nil || o.Targets != nil || o.RefreshRoot || len(o.RotateOnline) > 0 {
		if p.Root, err = cloneMeta(r.root); err != nil {
			return nil, err
		}
		p.Root.ClearSignatures()
		p.Root.Signed.Version++
		p.Root.Signed.Expires = r.expires(metadata.ROOT)
		if o.Root != nil {
			if err := setRoleKeys(p.Root, metadata.ROOT, o.Root); err != nil {
				return nil, err
			}
		}
		if o.Targets != nil {
			if err := setRoleKeys(p.Root, metadata.TARGETS, o.Targets); err != nil {
				return nil, err
			}
		}
		for _, role := range o.RotateOnline {
			if role != metadata.SNAPSHOT && role != metadata.TIMESTAMP {
				return nil, fmt.Errorf("rotate %q: the online roles are snapshot and timestamp", role)
			}
			for _, id := range slices.Clone(p.Root.Signed.Roles[role].KeyIDs) {
				if err := p.Root.Signed.RevokeKey(id, role); err != nil {
					return nil, err
				}
			}
			next := keyPath(r.keysDir, role) + nextSuffix
			if err := addNewKey(p.Root, next, role); err != nil {
				return nil, fmt.Errorf("a new %s key (is a rotation pending already? remove %s): %w", role, next, err)
			}
			p.Root.Signed.Roles[role].Threshold = 1
		}
	}
	var newTargets []Target
	if o.Content != nil {
		c, err := r.complete(*o.Content)
		if err != nil {
			return nil, err
		}
		if newTargets, err = Targets(c, r.now); err != nil {
			return nil, err
		}
		if r.sameTargets(newTargets) {
			newTargets = nil
		}
	}
	rekeyed := p.Root != nil && !sameRole(r.root, p.Root, metadata.TARGETS)
	if newTargets != nil || rekeyed || o.RefreshTargets {
		if p.Targets, err = cloneMeta(r.targets); err != nil {
			return nil, err
		}
		p.Targets.ClearSignatures()
		p.Targets.Signed.Version++
		p.Targets.Signed.Expires = r.expires(metadata.TARGETS)
		if newTargets != nil {
			p.Files = fillTargets(p.Targets, newTargets)
		}
	}
	if p.Root == nil && p.Targets == nil {
		return nil, errors.New("nothing to propose: the content is what is published and no keys, threshold or refresh were asked for")
	}
	// Online signatures: the keys directory's root key counts towards the
	// previous root's threshold (a repository leaving online keys), and
	// its targets key signs when the root in force still names it.
	if p.Root != nil && onlineIn(r.keysDir, p.Previous, metadata.ROOT) {
		priv, err := readKey(keyPath(r.keysDir, metadata.ROOT))
		if err != nil {
			return nil, err
		}
		if _, err := p.Sign(priv); err != nil {
			return nil, err
		}
	}
	if p.Targets != nil && onlineIn(r.keysDir, p.authority(), metadata.TARGETS) {
		priv, err := readKey(keyPath(r.keysDir, metadata.TARGETS))
		if err != nil {
			return nil, err
		}
		if err := signWith(p.Targets, priv); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// complete fills the files c leaves nil with the published ones.
func (r *Repo) complete(c Content) (Content, error) {
	var err error
	if c.TrustedRoot == nil {
		if c.TrustedRoot, err = r.Target(TrustedRootTarget); err != nil {
			return c, err
		}
	}
	if c.SigningConfig == nil {
		if _, ok := r.targets.Signed.Targets[SigningConfigTarget]; ok {
			if c.SigningConfig, err = r.Target(SigningConfigTarget); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// setRoleKeys replaces a role's keys and threshold in root.
func setRoleKeys(root *metadata.Metadata[metadata.RootType], role string, rk *RoleKeys) error {
	if rk.Threshold < 1 || rk.Threshold > len(rk.Keys) {
		return fmt.Errorf("%s: threshold %d with %d keys: want between 1 and the number of keys", role, rk.Threshold, len(rk.Keys))
	}
	for _, id := range slices.Clone(root.Signed.Roles[role].KeyIDs) {
		if err := root.Signed.RevokeKey(id, role); err != nil {
			return err
		}
	}
	for _, pub := range rk.Keys {
		if err := checkKeyType(pub); err != nil {
			return fmt.Errorf("%s key: %w", role, err)
		}
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			return err
		}
		id, err := k.ID()
		if err != nil {
			return err
		}
		if slices.Contains(root.Signed.Roles[role].KeyIDs, id) {
			return fmt.Errorf("%s: key %s given twice", role, short(id))
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			return err
		}
	}
	root.Signed.Roles[role].Threshold = rk.Threshold
	return nil
}

func cloneMeta[T metadata.Roles](m *metadata.Metadata[T]) (*metadata.Metadata[T], error) {
	b, err := m.ToBytes(false)
	if err != nil {
		return nil, err
	}
	var out metadata.Metadata[T]
	return out.FromBytes(b)
}

// Publish publishes a signed proposal in the repository dir (creating it
// for a proposal of root v1) with snapshot and timestamp metadata signed
// by the online keys in keysDir. It refuses, writing nothing, a proposal
// short of a threshold (ErrBelowThreshold) or made against a root or
// targets version that is not the published one. The caller closes the
// returned repository.
func Publish(dir, keysDir string, p *Proposal, now time.Time) (*Repo, error) {
	if _, err := p.Check(now); err != nil {
		return nil, fmt.Errorf("refusing to publish: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "timestamp.json")); errors.Is(err, fs.ErrNotExist) {
		return publishNew(dir, keysDir, p, now)
	}
	if p.Previous == nil {
		return nil, fmt.Errorf("the proposal creates a repository, and %s holds one already", dir)
	}
	r, err := Open(dir, keysDir, now)
	if err != nil {
		return nil, err
	}
	if err := r.apply(p); err != nil {
		r.Close()
		return nil, fmt.Errorf("refusing to publish: %w", err)
	}
	return r, nil
}

func (r *Repo) apply(p *Proposal) error {
	cur, err := canonicalRoot(r.root)
	if err != nil {
		return err
	}
	prev, err := canonicalRoot(p.Previous)
	if err != nil {
		return err
	}
	if p.Previous.Signed.Version != r.root.Signed.Version || cur != prev {
		return fmt.Errorf("the proposal was made against root v%d, and the published root is v%d (another change was published since): propose again",
			p.Previous.Signed.Version, r.root.Signed.Version)
	}
	if p.Targets != nil && p.Targets.Signed.Version != r.targets.Signed.Version+1 {
		return fmt.Errorf("the proposal carries targets v%d, and the published targets are v%d (another change was published since): propose again",
			p.Targets.Signed.Version, r.targets.Signed.Version)
	}
	newRoot, newTargets := p.Root != nil, p.Targets != nil
	if newRoot {
		r.root = p.Root
	}
	if newTargets {
		r.targets, r.files = p.Targets, p.Files
	} else if r.root.VerifyDelegate(metadata.TARGETS, r.targets) != nil {
		// The published targets no longer verify under the new root (its
		// targets keys changed): only an online targets key can fix it here.
		if !r.Online(metadata.TARGETS) {
			return fmt.Errorf("the new root changes the targets keys and the proposal carries no targets signed by them: %w", ErrOffline)
		}
		r.targets.Signed.Version++
		r.targets.Signed.Expires = r.expires(metadata.TARGETS)
		if err := signOnline(r, metadata.TARGETS, r.targets); err != nil {
			return err
		}
		newTargets = true
	}
	return r.publish(newRoot, newTargets, true)
}

func canonicalRoot(m *metadata.Metadata[metadata.RootType]) (string, error) {
	b, err := json.Marshal(m.Signed)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// publishNew publishes the proposal of a repository's first version,
// prepared by ProposeInit with keysDir.
func publishNew(dir, keysDir string, p *Proposal, now time.Time) (*Repo, error) {
	if p.Previous != nil || p.Root == nil {
		return nil, fmt.Errorf("%s holds no repository, and the proposal is a change of one: publish it where it was proposed", dir)
	}
	r, err := openLocked(dir, keysDir, now)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "targets"), 0o755); err != nil {
		r.Close()
		return nil, err
	}
	r.root, r.targets, r.files = p.Root, p.Targets, p.Files
	r.snapshot = metadata.Snapshot(r.expires(metadata.SNAPSHOT))
	r.timestamp = metadata.Timestamp(r.expires(metadata.TIMESTAMP))
	if err := r.publish(true, true, true); err != nil {
		r.Close()
		return nil, fmt.Errorf("refusing to publish: %w", err)
	}
	return r, nil
}

// UnusedKeys lists the key files in the keys directory that the published
// root no longer names: after a ceremony that took root or targets
// offline, they should be destroyed (a client still trusting an old root
// would accept a new root they sign).
func (r *Repo) UnusedKeys() []string {
	var out []string
	for _, role := range roles {
		path := keyPath(r.keysDir, role)
		priv, err := readKey(path)
		if err != nil {
			continue
		}
		if id, err := keyID(priv.Public()); err == nil && !named(r.root, role, id) {
			out = append(out, path)
		}
	}
	return out
}
