package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// runIndexV2 is `hallmark index-v2`: it writes the search keys of every
// entry already in a Rekor v2 log (entries logged before Hallmark indexed
// Rekor v2 logs), reading the log's entry bundles from the database. New
// entries are indexed as they are logged, so this runs once per log, with
// hallmark-log running or not; running it again adds nothing.
func runIndexV2(args []string) error {
	fs := flag.NewFlagSet("index-v2", flag.ExitOnError)
	config := fs.String("config", "hallmark-log.yaml", "hallmark-log configuration naming the database and the logs")
	only := fs.String("log", "", "the Rekor v2 log to index (default: every rekor-v2 log of the configuration)")
	per := fs.Int("batch", 16*tlog.TileWidth, "entries indexed per database transaction")
	fs.Parse(args)
	if *per <= 0 {
		return errors.New("index-v2: --batch must be positive")
	}
	cfg, err := tlog.LoadServiceConfig(*config)
	if err != nil {
		return err
	}
	if cfg.ReadOnly {
		return errors.New("index-v2: the configuration is read-only; run it with the primary's")
	}
	ctx := context.Background()
	store, err := api.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	found := false
	for _, lc := range cfg.Logs {
		if lc.Kind != "rekor-v2" || (*only != "" && lc.Name != *only) {
			continue
		}
		found = true
		if err := indexV2Log(ctx, store, lc.Name, *per); err != nil {
			return err
		}
	}
	if !found {
		if *only != "" {
			return fmt.Errorf("index-v2: %s names no rekor-v2 log %q", *config, *only)
		}
		return fmt.Errorf("index-v2: %s has no rekor-v2 log", *config)
	}
	return nil
}

// indexV2Log indexes the entries of one log, per entries at a time.
func indexV2Log(ctx context.Context, store api.Store, name string, per int) error {
	st, err := store.State(ctx, name)
	if err != nil {
		return fmt.Errorf("log %s: %w", name, err)
	}
	var rows []tlog.SearchRow
	var keys, unindexable uint64
	flush := func() error {
		err := tlog.AddSearchKeys(ctx, store, store, name, rows)
		keys += uint64(len(rows))
		rows = rows[:0]
		return err
	}
	for b := uint64(0); b*tlog.TileWidth < st.Size; b++ {
		bundle, err := store.ReadEntryBundle(ctx, name, b)
		if err != nil {
			return fmt.Errorf("log %s: couldn't read entry bundle %d: %w", name, b, err)
		}
		entries, _, err := tlog.TlogTiles.Split(bundle)
		if err != nil {
			return fmt.Errorf("log %s: entry bundle %d: %w", name, b, err)
		}
		for j, e := range entries {
			idx := b*tlog.TileWidth + uint64(j)
			if idx >= st.Size {
				break
			}
			ks, err := rekorv2.IndexKeys(e)
			if err != nil {
				unindexable++
				continue
			}
			for _, k := range ks {
				rows = append(rows, tlog.SearchRow{Key: k, Index: idx})
			}
		}
		if (b+1)*tlog.TileWidth%uint64(per) == 0 || (b+1)*tlog.TileWidth >= st.Size {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	fmt.Printf("log %s: %d entries indexed under %d keys (%d entries have none Hallmark reads)\n", name, st.Size-unindexable, keys, unindexable)
	return nil
}
