package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
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

const rotateUsage = `usage:
  hallmark log rotate open   --config FILE --log OLD --name NEW --url URL [--origin O] [--tree-id N]
                             [--key-out FILE] [--trusted-root FILE] [--signing-config FILE]
  hallmark log rotate freeze --config FILE --log OLD [--trusted-root FILE] [--signing-config FILE]
  hallmark log rotate rekor-v1 --config FILE --log OLD --name NEW --tree-id N
                             [--key-out FILE] [--trusted-root FILE]

A rotation without a write outage has two phases:
  open    adds the new shard (new name, URL, origin and key) next to OLD, both writable;
          adds it to the trusted root (valid from now) and, first, to the signing config.
          Roll the hallmark-log replicas, then publish the trusted root and signing config.
  freeze  once clients use the new signing config: freezes OLD in the database (replicas
          still writing to it answer 503 from then on), marks it read_only (still served,
          its entries keep verifying), ends its validity in the trusted root and the
          signing config. Publish the signing config, then roll the replicas.

A Rekor v1 log rotates as Rekor does, behind its one URL, in one step:
  rekor-v1  adds NEW (new tree ID and key) at OLD's URL as the active shard, marks OLD
          read_only and lists it in NEW's rekor.inactive_shards (entries keep Rekor's
          virtual log index), and in the trusted root closes OLD's key and adds NEW's.
          Roll the replicas one at a time: the first to start with the rotated
          configuration freezes OLD in the database and takes the writes; replicas
          not restarted yet refuse writes with 503, so clients retry on another one.`

// runLog dispatches `hallmark log` subcommands.
func runLog(args []string) error {
	if len(args) < 2 || args[0] != "rotate" || (args[1] != "open" && args[1] != "freeze" && args[1] != "rekor-v1") {
		fmt.Fprint(os.Stderr, rotateUsage)
		return errors.New("expected a subcommand: log rotate open, freeze or rekor-v1")
	}
	fs := flag.NewFlagSet("log rotate "+args[1], flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, rotateUsage); fs.PrintDefaults() }
	config := fs.String("config", "hallmark-log.yaml", "hallmark-log configuration to edit")
	old := fs.String("log", "", "name of the active shard")
	name := fs.String("name", "", "open: name of the new shard")
	url := fs.String("url", "", "open: public base URL of the new shard")
	origin := fs.String("origin", "", "open: checkpoint origin of the new shard (default: derived from the URL)")
	treeID := fs.Int64("tree-id", 0, "open: Rekor v1 tree ID of the new shard (rekor-v1 logs)")
	keyOut := fs.String("key-out", "", "open: file for the new shard's key, written as its key_file (relative paths are relative to the configuration's directory; default <name>.pem)")
	trustedRoot := fs.String("trusted-root", "", "trusted_root.json to update (optional)")
	signingConfig := fs.String("signing-config", "", "signing_config.json to update (optional)")
	database := fs.Bool("database", true, "freeze: also freeze OLD in the database the configuration names (needs write access)")
	fs.Parse(args[2:])
	if *old == "" {
		return errors.New("--log is required")
	}
	now := time.Now().UTC().Truncate(time.Second)
	r := &rotation{configPath: *config, old: *old, now: now}
	if err := r.load(); err != nil {
		return err
	}
	if args[1] == "rekor-v1" {
		if *name == "" || *treeID <= 0 {
			return errors.New("rekor-v1: --name and a new --tree-id are required")
		}
		if *keyOut == "" {
			*keyOut = *name + ".pem"
		}
		return r.rekorV1(*name, *treeID, *keyOut, *trustedRoot)
	}
	if args[1] == "open" {
		if *name == "" || *url == "" {
			return errors.New("open: --name and --url are required")
		}
		if *keyOut == "" {
			*keyOut = *name + ".pem"
		}
		return r.open(*name, *url, *origin, *treeID, *keyOut, *trustedRoot, *signingConfig)
	}
	return r.freeze(*trustedRoot, *signingConfig, *database)
}

// rotation edits one hallmark-log configuration, keeping its comments.
type rotation struct {
	configPath string
	old        string
	now        time.Time
	cfg        *tlog.ServiceConfig
	oldCfg     tlog.LogConfig
	doc        yaml.Node
	oldNode    *yaml.Node // the old log's mapping in doc
	logs       *yaml.Node // the logs sequence in doc
}

func (r *rotation) load() error {
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

func (r *rotation) open(name, url, origin string, treeID int64, keyOut, trustedRoot, signingConfig string) error {
	if r.oldCfg.ReadOnly {
		return fmt.Errorf("log %s is frozen already", r.old)
	}
	oldKey, err := tlog.LoadPrivateKey(r.cfg.Path(r.oldCfg.KeyFile))
	if err != nil {
		return err
	}
	// The new shard's key is of the old one's type: the clients of this log
	// take that type (ML-DSA-44 too) already.
	keyPEM, err := tlog.GenerateKey(tlog.KeyTypeName(oldKey.Public()))
	if err != nil {
		return err
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
			return errors.New("open: a rekor-v1 shard needs a new --tree-id")
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
		return err
	}
	var lc tlog.LogConfig
	for _, l := range newCfg.Logs {
		if l.Name == name {
			lc = l
		}
	}
	if lc.Kind == "rekor-v2" && (lc.CheckpointOrigin() != lc.Hostname() || lc.Hostname() == r.oldCfg.Hostname()) {
		return fmt.Errorf("open: a Rekor v2 shard needs its own host name as its origin (clients derive the checkpoint origin from the URL's host): use a URL like https://log2.example.com and no --origin")
	}
	key, _ := tlog.ParsePrivateKey(keyPEM)
	if err := writeNewKey(r.cfg.Path(keyOut), keyPEM); err != nil {
		return err
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
			return err
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
			return err
		}
	}
	if err := fileutil.WriteFileAtomic(r.configPath, out, 0o644); err != nil {
		return err
	}
	fmt.Printf("opened shard %s (%s, origin %s) next to %s; roll the replicas, then publish the trusted root and signing config\n",
		name, lc.URL, lc.CheckpointOrigin(), r.old)
	return nil
}

// rekorV1 rotates a Rekor v1 log behind its URL: see rotateUsage.
func (r *rotation) rekorV1(name string, treeID int64, keyOut, trustedRoot string) error {
	if r.oldCfg.Kind != "rekor-v1" {
		return fmt.Errorf("log %s is a %s log; rotate it with open and freeze", r.old, r.oldCfg.Kind)
	}
	if r.oldCfg.ReadOnly {
		return fmt.Errorf("log %s is frozen already", r.old)
	}
	keyPEM, err := tlog.GenerateKey("ecdsa-p256") // Rekor v1 SETs are ECDSA
	if err != nil {
		return err
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
	out, _, err := r.render()
	if err != nil {
		return err
	}
	key, _ := tlog.ParsePrivateKey(keyPEM)
	if err := writeNewKey(r.cfg.Path(keyOut), keyPEM); err != nil {
		return err
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
			return err
		}
	}
	if err := fileutil.WriteFileAtomic(r.configPath, out, 0o644); err != nil {
		return err
	}
	fmt.Printf("rotated %s: shard %s (tree %d) is active, %s is frozen behind it; roll the replicas (the first to restart freezes %s in the database), then publish the trusted root\n",
		r.oldCfg.URL, name, treeID, r.old, r.old)
	return nil
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

func (r *rotation) freeze(trustedRoot, signingConfig string, database bool) error {
	yamlcfg.SetMap(r.oldNode, "read_only", "true")
	out, _, err := r.render()
	if err != nil {
		return err
	}
	// The database first: if it fails, no file has changed. Freezing is
	// idempotent, so running the command again after a later failure is
	// safe.
	if database {
		if err := freezeInDatabase(r.cfg, r.old); err != nil {
			return err
		}
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
			return err
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
			return err
		}
	}
	if err := fileutil.WriteFileAtomic(r.configPath, out, 0o644); err != nil {
		return err
	}
	fmt.Printf("froze shard %s (read-only, still served); publish the signing config, then roll the replicas\n", r.old)
	return nil
}

// freezeInDatabase freezes a log in the store cfg names: once it returns,
// the log's size is final and every replica's writes to it fail with 503.
func freezeInDatabase(cfg *tlog.ServiceConfig, name string) error {
	if cfg.ReadOnly {
		return fmt.Errorf("this configuration is a read-only replica's; freeze %s with the read-write one, or pass --database=false", name)
	}
	ctx := context.Background()
	store, err := api.OpenStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("couldn't open the database to freeze %s (pass --database=false to edit the files only): %w", name, err)
	}
	defer store.Close()
	st, err := store.Freeze(ctx, name)
	if errors.Is(err, tlog.ErrNotFound) {
		return fmt.Errorf("log %s is not in the database; pass --database=false to edit the files only", name)
	}
	if err != nil {
		return err
	}
	fmt.Printf("froze %s in the database at %d entries\n", name, st.Size)
	return nil
}

// render encodes the edited YAML and checks that hallmark-log accepts it.
func (r *rotation) render() ([]byte, *tlog.ServiceConfig, error) {
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
