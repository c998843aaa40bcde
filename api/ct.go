package api

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/api/access"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/ct"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// ctNoteKeys returns the static-ct-api checkpoint signer and verifier of a
// ct log: RFC 6962 note signatures named after the origin.
func ctNoteKeys(origin string, key crypto.Signer) (note.Signer, note.Verifier, error) {
	s, err := format.NewRFC6962NoteSigner(origin, key)
	if err != nil {
		return nil, nil, err
	}
	v, err := format.NewRFC6962NoteVerifier(origin, key.Public())
	if err != nil {
		return nil, nil, err
	}
	return s, v, nil
}

// ctHandlers serves the RFC 6962 submission API of a ct log and its
// static-ct-api issuers; checkpoint and tiles are the common tile handlers.
type ctHandlers struct {
	log      *ct.Log
	maxBytes int64
	access   *access.Policy
}

// newCTHandlers builds the CT front end of sl, whose issuer certificates
// go into blobs (the service's store).
func newCTHandlers(sl *servedLog, blobs tlog.BlobStore, cfg *tlog.ServiceConfig) (*ctHandlers, error) {
	pemData, err := os.ReadFile(cfg.Path(sl.cfg.CT.RootsFile))
	if err != nil {
		return nil, fmt.Errorf("log %s: couldn't read ct.roots_file: %w", sl.cfg.Name, err)
	}
	roots, err := ct.ParseRoots(pemData)
	if err != nil {
		return nil, fmt.Errorf("log %s: ct.roots_file: %w", sl.cfg.Name, err)
	}
	l, err := ct.New(sl.log, blobs, sl.key, roots)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", sl.cfg.Name, err)
	}
	sl.ct = l
	return &ctHandlers{log: l, maxBytes: cfg.Limits.MaxRequestBytes, access: sl.access}, nil
}

// CTLog returns the named ct log, or nil: with ca.InProcessCTLog it lets a
// CA in the same process obtain SCTs without HTTP.
func (s *LogService) CTLog(name string) *ct.Log {
	for _, sl := range s.logs {
		if sl.cfg.Name == name {
			return sl.ct
		}
	}
	return nil
}

func (h *ctHandlers) mount(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("POST "+prefix+"/ct/v1/add-chain", h.addChain(false))
	mux.HandleFunc("POST "+prefix+"/ct/v1/add-pre-chain", h.addChain(true))
	mux.HandleFunc("GET "+prefix+"/ct/v1/get-roots", h.getRoots)
	mux.HandleFunc("GET "+prefix+"/issuer/{fp}", h.issuer)
}

// addChain answers add-chain or add-pre-chain with the JSON SCT, once the
// entry is committed.
func (h *ctHandlers) addChain(precert bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		chk, err := h.access.Begin(r.Context(), httpCredentials(r))
		if err != nil {
			writeError(w, r, err)
			return
		}
		body, err := readBody(w, r, h.maxBytes)
		if err != nil {
			writeError(w, r, err)
			return
		}
		chain, err := ct.ParseChainRequest(body)
		if err == nil {
			err = ctSigner(chk, chain)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		sct, err := h.log.AddChain(r.Context(), chain, precert)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, sct.Response())
	}
}

// ctSigner judges the submitted chain's leaf (the certificate that is
// logged) as the entry's signer, before the chain is verified.
func ctSigner(chk *access.Check, chain [][]byte) error {
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("%w: certificate %d of the chain: %w", tlog.ErrInvalidRequest, i, err)
		}
		certs[i] = c
	}
	if err := chk.Signer(certs[0].PublicKey, certs); err != nil {
		return err
	}
	return chk.Finish()
}

func (h *ctHandlers) getRoots(w http.ResponseWriter, r *http.Request) {
	// encoding/json writes []byte as base64, as RFC 6962 §4.7 wants.
	writeJSON(w, http.StatusOK, map[string][][]byte{"certificates": h.log.Roots()})
}

func (h *ctHandlers) issuer(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("fp")
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 32 || hex.EncodeToString(raw) != s {
		writeError(w, r, fmt.Errorf("%w: issuer fingerprint must be 64 lowercase hex digits", ErrBadRequest))
		return
	}
	der, err := h.log.Issuer(r.Context(), [32]byte(raw))
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.Header().Set("Cache-Control", cacheImmutable)
	w.Write(der) //nolint:errcheck
}
