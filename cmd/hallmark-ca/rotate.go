package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/trust/carotate"
)

const rotateUsage = `usage:
  hallmark-ca rotate-intermediate -config FILE -dir DIR [-password-file F | -password-env VAR]
                                  [-trusted-root FILE] [-overlap 1h]
  hallmark-ca rotate-tsa          -config FILE -dir DIR [-password-file F | -password-env VAR]
                                  [-trusted-root FILE] [-overlap 1h]

Creates a new intermediate CA (or TSA certificate) and key under the root in DIR (the
directory of hallmark-ca init: root.pem, root.key.pem), points the configuration's signer
(or tsa.signer) at them, and in the trusted root ends the old chain's validFor at
now + overlap and adds the new chain, valid from now. The old key and chain files stay.
Publish the trusted root, then restart the hallmark-ca replicas within the overlap:
certificates and timestamps from either chain verify throughout.`

// runRotate replaces the CA's intermediate (tsa false) or the TSA's
// certificate (tsa true); trust/carotate does the work.
func runRotate(args []string, tsa bool) error {
	name := "rotate-intermediate"
	if tsa {
		name = "rotate-tsa"
	}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, rotateUsage); fs.PrintDefaults() }
	o := carotate.Options{TSA: tsa, Now: time.Now().UTC().Truncate(time.Second)}
	fs.StringVar(&o.ConfigPath, "config", "hallmark-ca.yaml", "hallmark-ca configuration to edit")
	fs.StringVar(&o.Dir, "dir", "", "deployment directory of hallmark-ca init (root.pem, root.key.pem); the new files go there")
	pwFile := fs.String("password-file", "", "file holding the password of root.key.pem, which also encrypts the new key (as init does)")
	pwEnv := fs.String("password-env", "HALLMARK_CA_PASSWORD", "environment variable holding that password, if -password-file is not given")
	fs.StringVar(&o.TrustedRoot, "trusted-root", "", "trusted_root.json to update (optional)")
	fs.DurationVar(&o.Overlap, "overlap", time.Hour, "how long after now the old chain stays valid in the trusted root: at least the time to restart every replica plus the certificate validity")
	fs.Parse(args)
	if o.Dir == "" {
		return fmt.Errorf("%s: -dir is required", name)
	}
	var err error
	if o.Password, err = ca.ReadSecret(*pwFile, *pwEnv); err != nil {
		return fmt.Errorf("%s: key password: %w", name, err)
	}
	rot, err := carotate.Rotate(o)
	if err != nil {
		return err
	}
	what := "intermediate"
	if tsa {
		what = "TSA certificate"
	}
	fmt.Printf("new %s %q (serial %x) in %s, key %s; %s now uses them.\n", what, rot.Chain[0].Subject.CommonName, rot.Chain[0].SerialNumber, rot.ChainFile, rot.KeyFile, o.ConfigPath)
	if o.TrustedRoot != "" {
		until := o.Now.Add(o.Overlap).Format(time.RFC3339)
		fmt.Printf("%s: old chain valid until %s, new chain from %s. Publish it, then restart every hallmark-ca replica before %s.\n",
			o.TrustedRoot, until, o.Now.Format(time.RFC3339), until)
	}
	return nil
}
