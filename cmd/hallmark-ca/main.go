// Command hallmark-ca is Hallmark's Fulcio-compatible certificate
// authority.
//
//	hallmark-ca [serve] -config hallmark-ca.yaml
//	hallmark-ca init -dir DIR -org NAME [-password-file F | -password-env VAR] [-tsa=false]
//	                 [-kms-key URI] [-tsa-kms-key URI] [-kms-create [-kms-algorithm A]]
//	hallmark-ca init-tsa -dir DIR [-password-file F | -password-env VAR] [-kms-key URI [-kms-create]]
//	hallmark-ca rotate-intermediate -config F -dir DIR [-trusted-root FILE] [-overlap 1h]
//	hallmark-ca rotate-tsa -config F -dir DIR [-trusted-root FILE] [-overlap 1h]
//
// Configuration is one YAML file (see docs/ca.md and ca.Config); secrets
// come from files or environment variables named there, never from flags.
package main

import (
	"context"
	"crypto/elliptic"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
	_ "github.com/hallmark-dev/hallmark/internal/signer/kms" // signer type kms: AWS, GCP, Azure, Vault
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "init" || args[0] == "init-tsa" ||
		args[0] == "rotate-intermediate" || args[0] == "rotate-tsa") {
		cmd, args = args[0], args[1:]
	}
	tuneGC()
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "init":
		err = initCA(args)
	case "init-tsa":
		err = initTSA(args)
	case "rotate-intermediate":
		err = runRotate(args, false)
	case "rotate-tsa":
		err = runRotate(args, true)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hallmark-ca:", err)
		os.Exit(1)
	}
}

// tuneGC (which internal/bench.CA repeats, to measure the service as it
// runs) raises the GC target to 400% unless GOGC is set. hallmark-ca's
// live heap is a few MiB while each certificate allocates tens of KiB, so
// the default target makes the collector run every few hundred requests;
// at 400% it costs about a quarter less CPU per certificate for a heap that
// still stays in the tens of MiB (see docs/BENCHMARKS.md).
//
// A GC target that high lets garbage reach five times the live heap, and
// under a flood of large bodies (each admitted within inflight_bytes) the
// live heap is tens of MiB: a soft memory limit of 256 MiB, unless
// GOMEMLIMIT is set, makes the collector run earlier then and keeps the
// process well under the 512 MiB resident bound docs/ca.md documents.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// defaultMemoryLimit is hallmark-ca's soft memory limit without GOMEMLIMIT.
const defaultMemoryLimit = 256 << 20

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	cfgPath := fs.String("config", "hallmark-ca.yaml", "path of the YAML configuration file")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	cfg, err := ca.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	svc, err := fulcioapi.NewService(cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return svc.ListenAndServe(ctx, nil)
}

func initCA(args []string) error {
	fs := flag.NewFlagSet("init", flag.ExitOnError)
	dir := fs.String("dir", "", "directory to write keys and certificates into (created; existing files are not overwritten)")
	org := fs.String("org", "", "organization name for the CA certificates")
	rootCurve := fs.String("root-curve", "P-384", "ECDSA curve of the root key: P-256, P-384 or P-521")
	interCurve := fs.String("intermediate-curve", "P-256", "ECDSA curve of the intermediate (issuing) key: P-256, P-384 or P-521")
	pwFile := fs.String("password-file", "", "file holding the password that encrypts the key files (at least 12 characters)")
	pwEnv := fs.String("password-env", "HALLMARK_CA_PASSWORD", "environment variable holding that password, if -password-file is not given")
	withTSA := fs.Bool("tsa", true, "also create a timestamp authority key and certificate (see init-tsa)")
	kmsKey := fs.String("kms-key", "", "KMS key reference (awskms://, gcpkms://, azurekms://, hashivault://) of the CA (intermediate) key; no intermediate.key.pem is written")
	tsaKMSKey := fs.String("tsa-kms-key", "", "KMS key reference of the TSA key; no tsa.key.pem is written")
	kmsCreate := fs.Bool("kms-create", false, "create the KMS keys if they do not exist (providers that support it; AWS needs an alias/ reference)")
	kmsAlg := fs.String("kms-algorithm", "", "provider algorithm name for -kms-create (default: the provider's ECDSA P-256, e.g. ECC_NIST_P256 on AWS)")
	fs.Parse(args)
	if *dir == "" || *org == "" {
		return fmt.Errorf("init: -dir and -org are required")
	}
	curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
	rc, ok1 := curves[*rootCurve]
	ic, ok2 := curves[*interCurve]
	if !ok1 || !ok2 {
		return fmt.Errorf("init: unknown curve %q or %q", *rootCurve, *interCurve)
	}
	pw, err := ca.ReadSecret(*pwFile, *pwEnv)
	if err != nil {
		return fmt.Errorf("init: key password: %w", err)
	}
	if err := ca.CheckNewPassword(pw); err != nil {
		return fmt.Errorf("init: key password (from %s): %w", passwordSource(*pwFile, *pwEnv), err)
	}
	if *tsaKMSKey != "" && !*withTSA {
		return fmt.Errorf("init: -tsa-kms-key needs -tsa")
	}
	opts := ca.InitOptions{Organization: *org, RootCurve: rc, IntermediateCurve: ic}
	if *kmsKey != "" {
		k, err := openKMSKey(*kmsKey, *kmsCreate, *kmsAlg)
		if err != nil {
			return fmt.Errorf("init: CA key: %w", err)
		}
		defer k.Close()
		opts.IntermediateKey = k
	}
	var tsaKey ca.Signer
	if *tsaKMSKey != "" {
		if tsaKey, err = openKMSKey(*tsaKMSKey, *kmsCreate, *kmsAlg); err != nil {
			return fmt.Errorf("init: TSA key: %w", err)
		}
		defer tsaKey.Close()
	}
	d, err := ca.NewDeployment(opts)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := d.WriteFiles(*dir, pw); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if *withTSA {
		defer printTSAFiles(*dir, *pwEnv, *tsaKMSKey)
		to := ca.TSAInitOptions{Organization: *org}
		if tsaKey != nil {
			to.Key = tsaKey
		}
		if _, err := ca.InitTSA(*dir, pw, to); err != nil {
			return fmt.Errorf("init: TSA: %w", err)
		}
	}
	if *kmsKey != "" {
		fmt.Printf(`Created in %[1]s:
  %[2]s  root certificate (distribute it in your trusted_root.json)
  %[3]s  root key, encrypted: move it offline
  %[4]s  chain for the CA: intermediate (certifying %[5]s), root

Signer section for hallmark-ca.yaml:

signer:
  type: kms
  chain_file: %[1]s/%[4]s
  kms:
    key: %[5]s
`, *dir, ca.RootCertFile, ca.RootKeyFile, ca.ChainFile, *kmsKey)
		return nil
	}
	fmt.Printf(`Created in %[1]s:
  %[2]s  root certificate (distribute it in your trusted_root.json)
  %[3]s  root key, encrypted: move it offline
  %[4]s  CA key, encrypted
  %[5]s  chain for the CA: intermediate, root

Signer section for hallmark-ca.yaml:

signer:
  type: file
  chain_file: %[1]s/%[5]s
  file:
    key_file: %[1]s/%[4]s
    password_env: %[6]s
`, *dir, ca.RootCertFile, ca.RootKeyFile, ca.IntermediateKeyFile, ca.ChainFile, *pwEnv)
	return nil
}

// initTSA adds a timestamp authority to a deployment created by init: its
// certificate is signed by the root, so the root key must be in -dir.
func initTSA(args []string) error {
	fs := flag.NewFlagSet("init-tsa", flag.ExitOnError)
	dir := fs.String("dir", "", "deployment directory written by init (root.pem and root.key.pem are read from it)")
	cn := fs.String("common-name", "", "common name of the TSA certificate (default \"<root organization> Hallmark timestamp authority\")")
	pwFile := fs.String("password-file", "", "file holding the password of root.key.pem, which also encrypts the TSA key")
	pwEnv := fs.String("password-env", "HALLMARK_CA_PASSWORD", "environment variable holding that password, if -password-file is not given")
	kmsKey := fs.String("kms-key", "", "KMS key reference (awskms://, gcpkms://, azurekms://, hashivault://) of the TSA key; no tsa.key.pem is written")
	kmsCreate := fs.Bool("kms-create", false, "create the KMS key if it does not exist (providers that support it; AWS needs an alias/ reference)")
	kmsAlg := fs.String("kms-algorithm", "", "provider algorithm name for -kms-create (default: the provider's ECDSA P-256)")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("init-tsa: -dir is required")
	}
	pw, err := ca.ReadSecret(*pwFile, *pwEnv)
	if err != nil {
		return fmt.Errorf("init-tsa: key password: %w", err)
	}
	o := ca.TSAInitOptions{CommonName: *cn}
	if *kmsKey != "" {
		k, err := openKMSKey(*kmsKey, *kmsCreate, *kmsAlg)
		if err != nil {
			return fmt.Errorf("init-tsa: TSA key: %w", err)
		}
		defer k.Close()
		o.Key = k
	}
	if _, err := ca.InitTSA(*dir, pw, o); err != nil {
		return fmt.Errorf("init-tsa: %w", err)
	}
	printTSAFiles(*dir, *pwEnv, *kmsKey)
	return nil
}

// openKMSKey opens (or with create, creates if missing) a KMS key for
// init and init-tsa.
func openKMSKey(ref string, create bool, alg string) (ca.Signer, error) {
	cfg := ca.KMSConfig{Key: ref}
	if create {
		return ca.CreateKMSKey(cfg, alg)
	}
	return ca.OpenKMSSigner(cfg)
}

func printTSAFiles(dir, pwEnv, kmsKey string) {
	if kmsKey != "" {
		fmt.Printf(`
Timestamp authority, in %[1]s:
  %[2]s  TSA certificate (critical EKU timeStamping, certifying %[3]s), root

TSA section for hallmark-ca.yaml (see docs/tsa.md):

tsa:
  signer:
    type: kms
    chain_file: %[1]s/%[2]s
    kms:
      key: %[3]s
`, dir, ca.TSAChainFile, kmsKey)
		return
	}
	fmt.Printf(`
Timestamp authority, in %[1]s:
  %[2]s  TSA key (P-256), encrypted
  %[3]s  TSA certificate (critical EKU timeStamping), root

TSA section for hallmark-ca.yaml (see docs/tsa.md):

tsa:
  signer:
    type: file
    chain_file: %[1]s/%[3]s
    file:
      key_file: %[1]s/%[2]s
      password_env: %[4]s
`, dir, ca.TSAKeyFile, ca.TSAChainFile, pwEnv)
}

// passwordSource names where ReadSecret read a password from, for messages.
func passwordSource(file, env string) string {
	if file != "" {
		return "-password-file " + file
	}
	return "$" + env
}
