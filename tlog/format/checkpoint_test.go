package format

import (
	"bytes"
	"encoding/base64"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

func TestCheckpointSignature(t *testing.T) {
	key := mustKey(t)
	origin := "ct.example.com/2026"
	s, err := NewRFC6962NoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := fnote.RFC6962VerifierString("https://"+origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := fnote.NewRFC6962Verifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := NewRFC6962NoteVerifier(origin, key.Public())
	body := origin + "\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	signed, err := note.Sign(&note.Note{Text: body}, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []note.Verifier{theirs, ours} {
		if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
			t.Fatalf("%T rejects our checkpoint: %v", v, err)
		}
	}
	tampered := bytes.Replace(signed, []byte("\n5\n"), []byte("\n6\n"), 1)
	if _, err := note.Open(tampered, note.VerifierList(ours)); err == nil {
		t.Fatal("a checkpoint with another size verifies")
	}
	if _, err := note.Sign(&note.Note{Text: body + "extension\n"}, s); err == nil {
		t.Fatal("signed a checkpoint with an extension line")
	}
}
