package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/witness"
)

const witnessUsage = `usage:
  hallmark witness --config witness.yaml
      run a C2SP tlog-witness (add-checkpoint, monitor retrieval, /metrics)
  hallmark witness vkey --config witness.yaml
      print the witness's verifier key, for the logs' witnesses config
  hallmark witness vkey --log-config hallmark-log.yaml
      print origin and verifier key of every log, for the witness's config
  hallmark witness vkey --key FILE --name NAME [--log | --ct]
      print the verifier key of a key file (witness key, --log key, --ct key)`

func runWitness(args []string) error {
	if len(args) > 0 && args[0] == "vkey" {
		return runWitnessVKey(args[1:])
	}
	fs := flag.NewFlagSet("witness", flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, witnessUsage) }
	config := fs.String("config", "witness.yaml", "witness configuration file (see tlog/witness.ServerConfig)")
	fs.Parse(args)
	cfg, err := witness.LoadServerConfig(*config)
	if err != nil {
		return err
	}
	signer, pub, err := cfg.Signer()
	if err != nil {
		return err
	}
	logs, err := cfg.TrustedLogs()
	if err != nil {
		return err
	}
	store, err := witness.OpenFileStore(cfg.Path(cfg.StateFile))
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	logger := slog.Default()
	w, err := witness.NewWitness(signer, logs, store, logger, reg)
	if err != nil {
		return err
	}
	vkey, _ := format.WitnessKey(cfg.Name, pub)
	mux := http.NewServeMux()
	mux.Handle("/", w.Handler(cfg.Prefix))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Listen.HTTP)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx) //nolint:errcheck
	}()
	logger.Info("witness ready", "addr", ln.Addr().String(), "name", cfg.Name, "vkey", vkey, "logs", len(logs))
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runWitnessVKey(args []string) error {
	fs := flag.NewFlagSet("witness vkey", flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, witnessUsage) }
	config := fs.String("config", "", "witness configuration: print the witness's vkey")
	logConfig := fs.String("log-config", "", "hallmark-log configuration: print each log's origin and vkey")
	keyFile := fs.String("key", "", "PEM private key file")
	name := fs.String("name", "", "key name (witness name, or the log's checkpoint signer name)")
	isLog := fs.Bool("log", false, "with --key: print a log checkpoint key (Ed25519 0x01 or ECDSA 0x02) instead of a witness key (0x04)")
	isCT := fs.Bool("ct", false, "with --key: print a CT log's checkpoint key (RFC 6962, 0x05)")
	fs.Parse(args)
	switch {
	case *config != "":
		cfg, err := witness.LoadServerConfig(*config)
		if err != nil {
			return err
		}
		_, pub, err := cfg.Signer()
		if err != nil {
			return err
		}
		vkey, err := format.WitnessKey(cfg.Name, pub)
		if err != nil {
			return err
		}
		fmt.Println(vkey)
	case *logConfig != "":
		cfg, err := tlog.LoadServiceConfig(*logConfig)
		if err != nil {
			return err
		}
		for _, l := range cfg.Logs {
			key, err := cfg.OpenKey(&l) // a file, a PKCS#11 token or a KMS: only its public key is used
			if err != nil {
				return err
			}
			key.Close()
			vkey, err := witness.ConfiguredLogKey(&l, key.Public())
			if err != nil {
				return fmt.Errorf("log %s: %w", l.Name, err)
			}
			fmt.Printf("# %s (%s)\n- origin: %s\n  vkeys: [%q]\n", l.Name, l.Kind, l.CheckpointOrigin(), vkey)
		}
	case *keyFile != "" && *name != "":
		key, err := tlog.LoadPrivateKey(*keyFile)
		if err != nil {
			return err
		}
		var vkey string
		if *isCT {
			vkey, err = format.CTLogKey(*name, key.Public())
		} else if *isLog {
			vkey, err = format.LogKey(*name, key.Public())
		} else if pub, ok := key.Public().(ed25519.PublicKey); ok {
			vkey, err = format.WitnessKey(*name, pub)
		} else {
			err = errors.New("witness keys must be Ed25519")
		}
		if err != nil {
			return err
		}
		fmt.Println(vkey)
	default:
		return errors.New(witnessUsage)
	}
	return nil
}
