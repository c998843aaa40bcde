//go:build cgo

package signer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// PKCS11Config locates a key in a PKCS#11 token (an HSM, or SoftHSM2 for
// tests). The key pair is found by its label; its type decides how it
// signs: ECDSA (CKM_ECDSA) and RSA (CKM_RSA_PKCS) through crypto11, Ed25519
// (CKK_EC_EDWARDS, CKM_EDDSA, PKCS#11 3.0; SoftHSM 2.6 has it) directly.
type PKCS11Config struct {
	// Module is the path of the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string `yaml:"module"`
	// TokenLabel selects the token.
	TokenLabel string `yaml:"token_label"`
	// KeyLabel is the CKA_LABEL of the key pair.
	KeyLabel string `yaml:"key_label"`
	// PINFile is a file holding the user PIN. PINEnv, if set instead, names
	// an environment variable holding it.
	PINFile string `yaml:"pin_file"`
	PINEnv  string `yaml:"pin_env"`
	// MaxSessions bounds concurrent signing sessions; default 16.
	MaxSessions int `yaml:"max_sessions"`
}

func (c PKCS11Config) maxSessions() int {
	if c.MaxSessions == 0 {
		return 16
	}
	return c.MaxSessions
}

// PKCS#11 3.0 names that github.com/miekg/pkcs11 v1.1 does not define.
const (
	ckkECEdwards             = 0x00000040 // CKK_EC_EDWARDS
	ckmECEdwardsKeyPairGen   = 0x00001055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA                 = 0x00001057 // CKM_EDDSA
	ckrCryptokiAlreadyInited = pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED
)

// ed25519Params is CKA_EC_PARAMS of an Ed25519 key: the DER OID 1.3.101.112.
var ed25519Params = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}

// pkcs11Signer is an ECDSA or RSA key in a token, signing through crypto11.
type pkcs11Signer struct {
	ctx    *crypto11.Context
	signer crypto11.Signer
}

var _ Signer = (*pkcs11Signer)(nil)

func (s *pkcs11Signer) Public() crypto.PublicKey { return s.signer.Public() }
func (s *pkcs11Signer) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.signer.Sign(r, d, o)
}
func (s *pkcs11Signer) Close() error { return s.ctx.Close() }

// openPKCS11 opens the token and logs in. crypto11 shares one module
// context (C_Initialize) between all its contexts for a library path, and
// PKCS#11 keeps the login per application, so every key of the token in
// this process shares that login.
func openPKCS11(cfg PKCS11Config, pin string) (*crypto11.Context, error) {
	if cfg.Module == "" || cfg.TokenLabel == "" || cfg.KeyLabel == "" {
		return nil, errors.New("pkcs11: module, token_label and key_label are required")
	}
	if pin == "" {
		return nil, errors.New("pkcs11: a PIN is required")
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: cfg.Module, TokenLabel: cfg.TokenLabel, Pin: pin, MaxSessions: cfg.maxSessions()})
	var p11 pkcs11.Error
	switch {
	case errors.As(err, &p11) && p11 == pkcs11.CKR_PIN_INCORRECT:
		return nil, fmt.Errorf("pkcs11: token %q refused the PIN (wrong pin_file or pin_env?): %w", cfg.TokenLabel, err)
	case errors.As(err, &p11) && p11 == pkcs11.CKR_PIN_LOCKED:
		return nil, fmt.Errorf("pkcs11: token %q has locked the user PIN (too many wrong PINs; the security officer must reset it): %w", cfg.TokenLabel, err)
	case err != nil:
		return nil, fmt.Errorf("pkcs11: opening token %q with %s: %w", cfg.TokenLabel, cfg.Module, err)
	}
	return ctx, nil
}

// OpenPKCS11Signer finds the key pair labelled cfg.KeyLabel in the token:
// ECDSA, RSA or Ed25519.
func OpenPKCS11Signer(cfg PKCS11Config, pin string) (Signer, error) {
	ctx, err := openPKCS11(cfg, pin)
	if err != nil {
		return nil, err
	}
	k, err := ctx.FindKeyPair(nil, []byte(cfg.KeyLabel))
	if err == nil && k != nil {
		return &pkcs11Signer{ctx: ctx, signer: k}, nil
	}
	// crypto11 knows no Ed25519 key ("unsupported key type"), nor a key
	// without CKA_ID: look for an Ed25519 pair before giving up.
	ed, edErr := openEd25519(ctx, cfg, pin)
	if edErr == nil {
		return ed, nil
	}
	ctx.Close()
	if !errors.Is(edErr, errNoSuchKey) {
		return nil, edErr
	}
	if err != nil { // crypto11 says "not found", or why it could not use the key it found
		return nil, fmt.Errorf("pkcs11: key %q in token %q: %w (%v)", cfg.KeyLabel, cfg.TokenLabel, errNoSuchKey, err)
	}
	return nil, fmt.Errorf("pkcs11: key %q in token %q: %w", cfg.KeyLabel, cfg.TokenLabel, errNoSuchKey)
}

var errNoSuchKey = errors.New("no key pair with this label (check key_label, and that the key was created in this token)")

// openForNewKey opens the token for a key about to be created: it fails if
// a key pair already has cfg.KeyLabel.
func openForNewKey(cfg PKCS11Config, pin string) (*crypto11.Context, error) {
	ctx, err := openPKCS11(cfg, pin)
	if err != nil {
		return nil, err
	}
	if k, _ := ctx.FindKeyPair(nil, []byte(cfg.KeyLabel)); k != nil {
		ctx.Close()
		return nil, fmt.Errorf("pkcs11: a key labelled %q already exists", cfg.KeyLabel)
	}
	return ctx, nil
}

// GeneratePKCS11Key creates an ECDSA key pair (P-256, P-384 or P-521) in
// the token, labelled cfg.KeyLabel (the tests use it; operators usually create
// the key with the HSM's own tools, see docs/operations.md).
func GeneratePKCS11Key(cfg PKCS11Config, pin string, curve elliptic.Curve) (Signer, error) {
	ctx, err := openForNewKey(cfg, pin)
	if err != nil {
		return nil, err
	}
	k, err := ctx.GenerateECDSAKeyPairWithLabel([]byte(cfg.KeyLabel), []byte(cfg.KeyLabel), curve)
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("pkcs11: generating key: %w", err)
	}
	return &pkcs11Signer{ctx: ctx, signer: k}, nil
}

// GeneratePKCS11Ed25519Key creates an Ed25519 key pair in the token
// (CKM_EC_EDWARDS_KEY_PAIR_GEN), labelled cfg.KeyLabel, its private half
// sensitive and not extractable.
func GeneratePKCS11Ed25519Key(cfg PKCS11Config, pin string) (Signer, error) {
	ctx, err := openForNewKey(cfg, pin)
	if err != nil {
		return nil, err
	}
	m, slot, err := edModule(cfg)
	if err != nil {
		ctx.Close()
		return nil, err
	}
	err = func() error {
		sh, err := m.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return err
		}
		defer m.CloseSession(sh)
		label := []byte(cfg.KeyLabel)
		_, _, err = m.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ed25519Params),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, label),
			},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, label),
			})
		return err
	}()
	m.Destroy()
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("pkcs11: generating an Ed25519 key in token %q (does the token support CKM_EC_EDWARDS_KEY_PAIR_GEN?): %w", cfg.TokenLabel, err)
	}
	return openEd25519(ctx, cfg, pin)
}

// edModule loads the module a second time beside crypto11 (the loader
// shares the library, so it is initialised already) and finds the token's
// slot.
func edModule(cfg PKCS11Config) (*pkcs11.Ctx, uint, error) {
	m := pkcs11.New(cfg.Module)
	if m == nil {
		return nil, 0, fmt.Errorf("pkcs11: loading %s failed", cfg.Module)
	}
	if err := m.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(ckrCryptokiAlreadyInited)) {
		m.Destroy()
		return nil, 0, fmt.Errorf("pkcs11: initialising %s: %w", cfg.Module, err)
	}
	slots, err := m.GetSlotList(true)
	if err != nil {
		m.Destroy()
		return nil, 0, fmt.Errorf("pkcs11: listing slots: %w", err)
	}
	for _, s := range slots {
		if ti, err := m.GetTokenInfo(s); err == nil && strings.TrimRight(ti.Label, " \x00") == cfg.TokenLabel {
			return m, s, nil
		}
	}
	m.Destroy()
	return nil, 0, fmt.Errorf("pkcs11: no token labelled %q in %s", cfg.TokenLabel, cfg.Module)
}

// ed25519Signer is an Ed25519 key in a token. crypto11 (ctx) holds the
// module reference and the login; the signer's own sessions, at most
// cfg.MaxSessions, are opened when needed and reused.
type ed25519Signer struct {
	ctx    *crypto11.Context
	m      *pkcs11.Ctx
	slot   uint
	key    pkcs11.ObjectHandle
	pub    ed25519.PublicKey
	label  string
	slots  chan struct{}             // one per session that may exist
	idle   chan pkcs11.SessionHandle // sessions ready for use
	closed atomic.Bool
	mu     sync.Mutex // serialises Close with session creation
}

var _ Signer = (*ed25519Signer)(nil)

// openEd25519 finds the Ed25519 pair labelled cfg.KeyLabel. On success
// the signer owns ctx; on failure the caller still does.
func openEd25519(ctx *crypto11.Context, cfg PKCS11Config, pin string) (*ed25519Signer, error) {
	m, slot, err := edModule(cfg)
	if err != nil {
		return nil, err
	}
	s := &ed25519Signer{ctx: ctx, m: m, slot: slot, label: cfg.KeyLabel,
		slots: make(chan struct{}, cfg.maxSessions()), idle: make(chan pkcs11.SessionHandle, cfg.maxSessions())}
	sh, err := s.session()
	if err != nil {
		m.Destroy()
		return nil, err
	}
	// The login is the application's, made by crypto11; logging in again
	// says so (CKR_USER_ALREADY_LOGGED_IN) unless the token logged out.
	if err := m.Login(sh, pkcs11.CKU_USER, pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		s.release(sh, err)
		m.Destroy()
		return nil, fmt.Errorf("pkcs11: logging in to token %q: %w", cfg.TokenLabel, err)
	}
	find := func(class uint) (pkcs11.ObjectHandle, error) {
		tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards), pkcs11.NewAttribute(pkcs11.CKA_LABEL, []byte(cfg.KeyLabel))}
		if err := m.FindObjectsInit(sh, tmpl); err != nil {
			return 0, err
		}
		hs, _, err := m.FindObjects(sh, 2)
		m.FindObjectsFinal(sh)
		switch {
		case err != nil:
			return 0, err
		case len(hs) == 0:
			return 0, errNoSuchKey
		case len(hs) > 1:
			return 0, fmt.Errorf("two Ed25519 keys are labelled %q; labels must be unique", cfg.KeyLabel)
		}
		return hs[0], nil
	}
	priv, err := find(pkcs11.CKO_PRIVATE_KEY)
	var pubH pkcs11.ObjectHandle
	if err == nil {
		pubH, err = find(pkcs11.CKO_PUBLIC_KEY)
	}
	var attrs []*pkcs11.Attribute
	if err == nil {
		attrs, err = m.GetAttributeValue(sh, pubH, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	}
	if err == nil {
		s.pub, err = parseEdPoint(attrs[0].Value)
	}
	s.release(sh, nil)
	if err != nil {
		s.closeSessions()
		m.Destroy()
		if errors.Is(err, errNoSuchKey) {
			return nil, err
		}
		return nil, fmt.Errorf("pkcs11: Ed25519 key %q: %w", cfg.KeyLabel, err)
	}
	s.key = priv
	return s, nil
}

// parseEdPoint reads CKA_EC_POINT of an Ed25519 key: the 32-byte point,
// DER-wrapped in an OCTET STRING (PKCS#11 3.0) or bare (some tokens).
func parseEdPoint(v []byte) (ed25519.PublicKey, error) {
	if len(v) == ed25519.PublicKeySize+2 && v[0] == 0x04 && v[1] == ed25519.PublicKeySize {
		v = v[2:]
	}
	if len(v) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("CKA_EC_POINT of %d bytes is not an Ed25519 public key", len(v))
	}
	return ed25519.PublicKey(append([]byte(nil), v...)), nil
}

// session returns an idle session, or opens one if fewer than
// max_sessions exist; otherwise it waits for one.
func (s *ed25519Signer) session() (pkcs11.SessionHandle, error) {
	s.slots <- struct{}{}
	select {
	case sh := <-s.idle:
		return sh, nil
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		<-s.slots
		return 0, fmt.Errorf("pkcs11: key %q: signer is closed", s.label)
	}
	sh, err := s.m.OpenSession(s.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		<-s.slots
		return 0, fmt.Errorf("pkcs11: opening a session: %w", err)
	}
	return sh, nil
}

// release returns a session to the pool; one that failed is closed
// instead, in case the failure left it in an operation.
func (s *ed25519Signer) release(sh pkcs11.SessionHandle, failed error) {
	if failed != nil {
		s.m.CloseSession(sh)
	} else {
		s.idle <- sh
	}
	<-s.slots
}

func (s *ed25519Signer) Public() crypto.PublicKey { return s.pub }

// Sign signs message (pure Ed25519: opts.HashFunc() must be 0) with
// CKM_EDDSA in the token.
func (s *ed25519Signer) Sign(_ io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("pkcs11: key %q: signer is closed", s.label)
	}
	if opts != nil && opts.HashFunc() != 0 {
		return nil, fmt.Errorf("pkcs11: key %q is Ed25519 and signs messages, not %v digests", s.label, opts.HashFunc())
	}
	sh, err := s.session()
	if err != nil {
		return nil, err
	}
	err = s.m.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, s.key)
	var sig []byte
	if err == nil {
		sig, err = s.m.Sign(sh, message)
	}
	s.release(sh, err)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: signing with Ed25519 key %q: %w", s.label, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("pkcs11: Ed25519 key %q returned a %d-byte signature", s.label, len(sig))
	}
	return sig, nil
}

// Close closes the idle sessions and releases the module; call it after
// the last Sign has returned.
func (s *ed25519Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	s.closeSessions()
	s.m.Destroy()
	return s.ctx.Close()
}

func (s *ed25519Signer) closeSessions() {
	for {
		select {
		case sh := <-s.idle:
			s.m.CloseSession(sh)
		default:
			return
		}
	}
}
