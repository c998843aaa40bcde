package tlog

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// logKeyTypes are the checkpoint key types a Rekor v2 or tiles log can use.
var logKeyTypes = []string{"ed25519", "ecdsa-p256", "ml-dsa-44"}

// BenchmarkCheckpointSign signs a checkpoint note, as the sequencer does
// once per committed batch; BenchmarkCheckpointVerify opens it, as every
// client, monitor and witness does. sig-bytes is the note signature line's
// size, which every served checkpoint and every bundle carries.
//
//	go test ./tlog/ -run '^$' -bench 'Checkpoint(Sign|Verify)' -benchtime 2s -count 5
func BenchmarkCheckpointSign(b *testing.B) {
	for _, alg := range logKeyTypes {
		b.Run(alg, func(b *testing.B) {
			const origin = "log.example.com"
			s, err := format.NewNoteSigner(origin, newTestKey(b, alg))
			if err != nil {
				b.Fatal(err)
			}
			text := checkpointText(origin, 1234567)
			var size int
			for b.Loop() {
				signed, err := note.Sign(&note.Note{Text: text}, s)
				if err != nil {
					b.Fatal(err)
				}
				size = len(signed) - len(text)
			}
			b.ReportMetric(float64(size), "sig-bytes")
		})
	}
}

func BenchmarkCheckpointVerify(b *testing.B) {
	for _, alg := range logKeyTypes {
		b.Run(alg, func(b *testing.B) {
			const origin = "log.example.com"
			key := newTestKey(b, alg)
			s, err := format.NewNoteSigner(origin, key)
			if err != nil {
				b.Fatal(err)
			}
			v, err := format.NewNoteVerifier(origin, key.Public())
			if err != nil {
				b.Fatal(err)
			}
			signed, err := note.Sign(&note.Note{Text: checkpointText(origin, 1234567)}, s)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWritePath appends 500-byte entries to an SQLite-backed log from
// 512 concurrent submitters (batches of up to 256, max age 5 ms): the whole
// write path, each batch one durable commit with a newly signed checkpoint.
// ns/op is per entry.
//
//	go test ./tlog/ -run '^$' -bench WritePath -benchtime 20000x -count 5
func BenchmarkWritePath(b *testing.B) {
	for _, alg := range logKeyTypes {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			store, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "log.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			const origin = "bench.example/log"
			signer, err := format.NewNoteSigner(origin, newTestKey(b, alg))
			if err != nil {
				b.Fatal(err)
			}
			l, err := Open(ctx, store, Config{Name: "bench", Origin: origin, Signer: signer, Index: store, History: store,
				BatchMaxSize: 256, BatchMaxAge: 5 * time.Millisecond, MaxPending: 1 << 16})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var seq atomic.Uint64
			b.SetParallelism(256) // 512 submitters on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				data := make([]byte, 500)
				for pb.Next() {
					rand.Read(data)
					binary.BigEndian.PutUint64(data, seq.Add(1))
					if _, err := l.Append(ctx, Entry{Data: data}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
