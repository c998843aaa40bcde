// Package rotate rotates a log shard of hallmark-log without stopping
// writes: open a new shard next to the active one, then freeze the old
// one; or rotate a Rekor v1 log behind its URL in one step. It edits the
// YAML configuration in place, keeping its comments, and the trusted root
// and signing config clients read, and checks the edited configuration
// before it writes anything.
//
// `hallmark log rotate` parses flags and calls this package;
// docs/operations.md describes the procedure. hallmark-ca's rotation is
// trust/carotate's, apart so that hallmark-ca does not link the log
// personalities.
package rotate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/internal/fileutil"
	"github.com/hallmark-dev/hallmark/internal/yamlcfg"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// Log rotates one log (the active shard) of a hallmark-log configuration,
// keeping the YAML's comments. Load it, then call Open and later Freeze,
// or RekorV1.
type Log struct {
	configPath string
	old        string
	now        time.Time
	cfg        *tlog.ServiceConfig
	oldCfg     tlog.LogConfig
	doc        yaml.Node
	oldNode    *yaml.Node // the old log's mapping in doc
	logs       *yaml.Node // the logs sequence in doc
}

// LoadLog reads the hallmark-log configuration at configPath and finds
// the log named old in it. now (UTC, to the second) is the time the
// rotation writes into the trusted root and the signing config.
func LoadLog(configPath, old string, now time.Time) (*Log, error) {
	r := &Log{configPath: configPath, old: old, now: now}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Log) load() error {
	var err error
	if r.cfg, err = tlog.LoadServiceConfig(r.configPath); err != nil {
		return err
	}
	found := false
	for _, l := range r.cfg.Logs {
		if l.Name == r.old {
			r.oldCfg, found = l, true
		}
	}
	if !found {
		return fmt.Errorf("no log named %q in %s", r.old, r.configPath)
	}
	raw, _ := os.ReadFile(r.configPath)
	if err := yaml.Unmarshal(raw, &r.doc); err != nil {
		return err
	}
	r.logs = yamlcfg.MapValue(r.doc.Content[0], "logs")
	if r.logs == nil || r.logs.Kind != yaml.SequenceNode {
		return errors.New("configuration has no logs list")
	}
	for _, n := range r.logs.Content {
		if v := yamlcfg.MapValue(n, "name"); v != nil && v.Value == r.old {
			r.oldNode = n
		}
	}
	if r.oldNode == nil {
		return fmt.Errorf("log %q not found in the YAML", r.old)
	}
	return nil
}

// OpenOptions describe the new shard Open adds.
type OpenOptions struct {
	Name, URL string
	Origin    string // checkpoint origin; empty: derived from the URL
	TreeID    int64  // Rekor v1 tree ID (rekor-v1 logs only, required there)
	// KeyOut is the new shard's key file, written once (never
	// overwritten) and named as its key_file; relative to the
	// configuration's directory. Empty: <Name>.pem.
	KeyOut string
	// TrustedRoot and SigningConfig are the client files to edit; empty
	// skips them.
	TrustedRoot, SigningConfig string
}

// Opened is the shard Open added.
type Opened struct {
	Name, URL, Origin string
	TreeID            int64 // Rekor v1 logs
}

// Open adds a new shard next to the active one, both writable: a copy of
// its settings with a new name, URL, origin and key of the same type. The
// new shard is appended to the trusted root, valid from now, and put
// first in the signing config (tiles logs have none). The configuration
// is written last, after the key and client files.
func (r *Log) Open(o OpenOptions) (*Opened, error) {
	if o.Name == "" || o.URL == "" {
		return nil, errors.New("open: --name and --url are required")
	}
	if o.KeyOut == "" {
		o.KeyOut = o.Name + ".pem"
	}
	name, url, origin, treeID, keyOut, trustedRoot, signingConfig := o.Name, o.URL, o.Origin, o.TreeID, o.KeyOut, o.TrustedRoot, o.SigningConfig
	if r.oldCfg.ReadOnly {
		return nil, fmt.Errorf("log %s is frozen already", r.old)
	}
	oldKey, err := tlog.LoadPrivateKey(r.cfg.Path(r.oldCfg.KeyFile))
	if err != nil {
		return nil, err
	}
	// The new shard's key is of the old one's type: the clients of this log
	// take that type (ML-DSA-44 too) already.
	keyPEM, err := tlog.GenerateKey(tlog.KeyTypeName(oldKey.Public()))
	if err != nil {
		return nil, err
	}
	// The new log: a copy of the old one's settings with its own identity.
	n := yamlcfg.DeepCopy(r.oldNode)
	yamlcfg.SetMap(n, "name", name)
	yamlcfg.SetMap(n, "url", url)
	yamlcfg.SetMap(n, "key_file", keyOut)
	yamlcfg.DeleteMap(n, "origin")
	yamlcfg.DeleteMap(n, "read_only")
	if origin != "" {
		yamlcfg.SetMap(n, "origin", origin)
	}
	if r.oldCfg.Kind == "rekor-v1" {
		if treeID <= 0 {
			return nil, errors.New("open: a rekor-v1 shard needs a new --tree-id")
		}
		rk := yamlcfg.MapValue(n, "rekor")
		yamlcfg.SetMap(rk, "tree_id", fmt.Sprint(treeID))
		yamlcfg.DeleteMap(rk, "inactive_shards") // they stay behind the old URL
	}
	for i, c := range r.logs.Content {
		if c == r.oldNode {
			r.logs.Content = append(r.logs.Content[:i+1], append([]*yaml.Node{n}, r.logs.Content[i+1:]...)...)
			break
		}
	}
	// Validate the edited configuration before writing anything.
	out, newCfg, err := r.render()
	if err != nil {
		return nil, err
	}
	var lc tlog.LogConfig
	for _, l := range newCfg.Logs {
		if l.Name == name {
			lc = l
		}
	}
	if lc.Kind == "rekor-v2" && (lc.CheckpointOrigin() != lc.Hostname() || lc.Hostname() == r.oldCfg.Hostname()) {
		return nil, fmt.Errorf("open: a Rekor v2 shard needs its own host name as its origin (clients derive the checkpoint origin from the URL's host): use a URL like https://log2.example.com and no --origin")
	}
	key, _ := tlog.ParsePrivateKey(keyPEM)
	if err := writeNewKey(r.cfg.Path(keyOut), keyPEM); err != nil {
		return nil, err
	}
	if trustedRoot != "" {
		err := editTrustedRoot(trustedRoot, func(tr *prototrustroot.TrustedRoot) error {
			keyID := []byte(nil)
			if lc.Kind == "rekor-v2" {
				id, err := rekorv2.KeyHash(lc.CheckpointOrigin(), key.Public())
				if err != nil {
					return err
				}
				keyID = id[:]
			}
			return appendTlog(tr, clientconfig.Log{BaseURL: lc.URL, PublicKey: key.Public(), KeyID: keyID, Start: r.now})
		})
		if err != nil {
			return nil, err
		}
	}
	if signingConfig != "" && lc.Kind != "tiles" {
		err := editSigningConfig(signingConfig, func(sc *prototrustroot.SigningConfig) error {
			v := uint32(1)
			if lc.Kind == "rekor-v2" {
				v = 2
			}
			svc := &prototrustroot.Service{Url: lc.URL, MajorApiVersion: v, ValidFor: &protocommon.TimeRange{Start: timestamppb.New(r.now)}}
			for _, s := range sc.RekorTlogUrls {
				if s.Url == r.oldCfg.URL {
					svc.Operator = s.Operator
				}
			}
			sc.RekorTlogUrls = append([]*prototrustroot.Service{svc}, sc.RekorTlogUrls...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := fileutil.WriteFileAtomic(r.configPath, out, 0o644); err != nil {
		return nil, err
	}
	return &Opened{Name: name, URL: lc.URL, Origin: lc.CheckpointOrigin(), TreeID: treeID}, nil
}

// RekorV1 rotates a Rekor v1 log behind its URL, as Rekor does, in one
// step: a new active shard (name, tree ID and ECDSA P-256 key of its own)
// at the old one's URL, the old one read_only and listed in the new one's
// rekor.inactive_shards, and in the trusted root the old key's validity
// closed and the new key added. The first replica to start with the
// rotated configuration freezes the old shard in the database.
func (r *Log) RekorV1(o OpenOptions) (*Opened, error) {
	if o.Name == "" || o.TreeID <= 0 {
		return nil, errors.New("rekor-v1: --name and a new --tree-id are required")
	}
	if o.KeyOut == "" {
		o.KeyOut = o.Name + ".pem"
	}
	name, treeID, keyOut, trustedRoot := o.Name, o.TreeID, o.KeyOut, o.TrustedRoot
	if r.oldCfg.Kind != "rekor-v1" {
		return nil, fmt.Errorf("log %s is a %s log; rotate it with open and freeze", r.old, r.oldCfg.Kind)
	}
	if r.oldCfg.ReadOnly {
		return nil, fmt.Errorf("log %s is frozen already", r.old)
	}
	keyPEM, err := tlog.GenerateKey("ecdsa-p256") // Rekor v1 SETs are ECDSA
	if err != nil {
		return nil, err
	}
	// The new active shard: the old one's settings, URL and host name,
	// with its own name, key and tree, and the old shards behind it.
	n := yamlcfg.DeepCopy(r.oldNode)
	yamlcfg.SetMap(n, "name", name)
	yamlcfg.SetMap(n, "key_file", keyOut)
	yamlcfg.DeleteMap(n, "origin") // the default origin carries the tree ID
	rk := yamlcfg.MapValue(n, "rekor")
	if rk == nil {
		yamlcfg.SetMap(n, "rekor", "")
		rk = yamlcfg.MapValue(n, "rekor")
		*rk = yaml.Node{Kind: yaml.MappingNode}
	}
	yamlcfg.SetMap(rk, "tree_id", fmt.Sprint(treeID))
	shards := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range append(r.oldCfg.Rekor.InactiveShards, r.old) {
		shards.Content = append(shards.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s})
	}
	yamlcfg.DeleteMap(rk, "inactive_shards")
	rk.Content = append(rk.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "inactive_shards"}, shards)
	if r.oldCfg.Rekor.Hostname == "" && r.oldCfg.Origin == "" {
		// Keep the signer name even if the URL's host changes later.
		yamlcfg.SetMap(rk, "hostname", r.oldCfg.RekorHostname())
	}
	for i, c := range r.logs.Content {
		if c == r.oldNode {
			r.logs.Content = append(r.logs.Content[:i+1], append([]*yaml.Node{n}, r.logs.Content[i+1:]...)...)
			break
		}
	}
	// The old shard: frozen, served through the new one.
	yamlcfg.SetMap(r.oldNode, "read_only", "true")
	if ork := yamlcfg.MapValue(r.oldNode, "rekor"); ork != nil {
		yamlcfg.DeleteMap(ork, "inactive_shards")
	}
	for _, s := range r.oldCfg.Rekor.InactiveShards {
		for _, c := range r.logs.Content {
			if v := yamlcfg.MapValue(c, "name"); v != nil && v.Value == s {
				if ork := yamlcfg.MapValue(c, "rekor"); ork != nil {
					yamlcfg.DeleteMap(ork, "inactive_shards")
				}
			}
		}
	}
	out, newCfg, err := r.render()
	if err != nil {
		return nil, err
	}
	key, _ := tlog.ParsePrivateKey(keyPEM)
	if err := writeNewKey(r.cfg.Path(keyOut), keyPEM); err != nil {
		return nil, err
	}
	if trustedRoot != "" {
		err := editTrustedRoot(trustedRoot, func(tr *prototrustroot.TrustedRoot) error {
			closed := false
			for _, l := range tr.Tlogs {
				if l.BaseUrl == r.oldCfg.URL && l.PublicKey != nil && l.PublicKey.ValidFor != nil && l.PublicKey.ValidFor.End == nil {
					l.PublicKey.ValidFor.End = timestamppb.New(r.now)
					closed = true
				}
			}
			if !closed {
				return fmt.Errorf("%s: no open entry for %s", trustedRoot, r.oldCfg.URL)
			}
			return appendTlog(tr, clientconfig.Log{BaseURL: r.oldCfg.URL, PublicKey: key.Public(), Start: r.now})
		})
		if err != nil {
			return nil, err
		}
	}
	if err := fileutil.WriteFileAtomic(r.configPath, out, 0o644); err != nil {
		return nil, err
	}
	var origin string
	for _, l := range newCfg.Logs {
		if l.Name == name {
			origin = l.CheckpointOrigin()
		}
	}
	return &Opened{Name: name, URL: r.oldCfg.URL, Origin: origin, TreeID: treeID}, nil
}

// writeNewKey writes a new key file; it never overwrites one.
func writeNewKey(path string, keyPEM []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("new key: %w", err)
	}
	if _, err := f.Write(keyPEM); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// FreezeOptions say what Freeze edits besides the configuration.
type FreezeOptions struct {
	TrustedRoot, SigningConfig string // client files to edit; empty skips them
	// Database also freezes the log in the database the configuration
	// names (it needs write access), first: if that fails, no file has
	// changed.
	Database bool
}

// Frozen is what Freeze did.
type Frozen struct {
	Name string
	// Size is the log's final size in the database; -1 if
	// FreezeOptions.Database was false.
	Size int64
}

// Freeze marks the active shard read_only (still served, its entries keep
// verifying), freezes it in the database, and ends its validity in the
// trusted root and the signing config at now. Freezing is idempotent, so
// running it again after a later failure is safe.
func (r *Log) Freeze(o FreezeOptions) (*Frozen, error) {
	trustedRoot, signingConfig, database := o.TrustedRoot, o.SigningConfig, o.Database
	res := &Frozen{Name: r.old, Size: -1}
	yamlcfg.SetMap(r.oldNode, "read_only", "true")
	out, _, err := r.render()
	if err != nil {
		return nil, err
	}
	// The database first: if it fails, no file has changed. Freezing is
	// idempotent, so running the command again after a later failure is
	// safe.
	if database {
		size, err := freezeInDatabase(r.cfg, r.old)
		if err != nil {
			return nil, err
		}
		res.Size = int64(size)
	}
	end := timestamppb.New(r.now)
	if trustedRoot != "" {
		err := editTrustedRoot(trustedRoot, func(tr *prototrustroot.TrustedRoot) error {
			for _, l := range tr.Tlogs {
				if l.BaseUrl == r.oldCfg.URL && l.PublicKey != nil && l.PublicKey.ValidFor != nil && l.PublicKey.ValidFor.End == nil {
					l.PublicKey.ValidFor.End = end
					return nil
				}
			}
			return fmt.Errorf("%s: no open entry for %s", trustedRoot, r.oldCfg.URL)
		})
		if err != nil {
			return nil, err
		}
	}
	if signingConfig != "" {
		err := editSigningConfig(signingConfig, func(sc *prototrustroot.SigningConfig) error {
			for _, s := range sc.RekorTlogUrls {
				if s.Url == r.oldCfg.URL && s.ValidFor != nil && s.ValidFor.End == nil {
					s.ValidFor.End = end
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := fileutil.WriteFileAtomic(r.configPath, out, 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

// freezeInDatabase freezes a log in the store cfg names and returns its
// final size: once it returns, the log's size is final and every replica's writes to it fail with 503.
func freezeInDatabase(cfg *tlog.ServiceConfig, name string) (uint64, error) {
	if cfg.ReadOnly {
		return 0, fmt.Errorf("this configuration is a read-only replica's; freeze %s with the read-write one, or pass --database=false", name)
	}
	ctx := context.Background()
	store, err := api.OpenStore(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("couldn't open the database to freeze %s (pass --database=false to edit the files only): %w", name, err)
	}
	defer store.Close()
	st, err := store.Freeze(ctx, name)
	if errors.Is(err, tlog.ErrNotFound) {
		return 0, fmt.Errorf("log %s is not in the database; pass --database=false to edit the files only", name)
	}
	if err != nil {
		return 0, err
	}
	return st.Size, nil
}

// render encodes the edited YAML and checks that hallmark-log accepts it.
func (r *Log) render() ([]byte, *tlog.ServiceConfig, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&r.doc); err != nil {
		return nil, nil, err
	}
	enc.Close()
	cfg, err := tlog.ParseServiceConfig(buf.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("the rotated configuration would be invalid: %w", err)
	}
	return buf.Bytes(), cfg, nil
}

func editTrustedRoot(path string, edit func(*prototrustroot.TrustedRoot) error) error {
	return editProtoJSON(path, &prototrustroot.TrustedRoot{}, edit)
}

func editSigningConfig(path string, edit func(*prototrustroot.SigningConfig) error) error {
	return editProtoJSON(path, &prototrustroot.SigningConfig{}, edit)
}

// editProtoJSON reads a client configuration file (protojson) into msg,
// applies edit and writes the result back atomically.
func editProtoJSON[M proto.Message](path string, msg M, edit func(M) error) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := protojson.Unmarshal(raw, msg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := edit(msg); err != nil {
		return err
	}
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(msg)
	if err != nil {
		return err
	}
	return fileutil.WriteFileAtomic(path, out, 0o644)
}

// appendTlog adds a transparency log to a trusted root, as clientconfig
// describes one.
func appendTlog(tr *prototrustroot.TrustedRoot, l clientconfig.Log) error {
	raw, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{l}})
	if err != nil {
		return err
	}
	var one prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(raw, &one); err != nil {
		return err
	}
	tr.Tlogs = append(tr.Tlogs, one.Tlogs...)
	return nil
}
