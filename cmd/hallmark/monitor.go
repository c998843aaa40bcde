package main

import (
	"context"
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
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hallmark-dev/hallmark/audit"
)

const monitorUsage = `usage:
  hallmark monitor --config monitor.yaml [--once] [--metrics-addr ADDR]
  (hallmark-bench monitor measures catch-up speed; see docs/BENCHMARKS.md)

Follows transparency logs: verifies each new checkpoint's signature and its
consistency with the last verified one, scans new entries from entry
bundles, and alerts (log line, webhook) on inconsistent checkpoints, invalid
signatures, entries that do not match the tree, and certificates matching
the identity rules. The configuration reference is audit.MonitorConfig
(docs/auditing.md).

With --once, polls each log once and exits: 0 if all is well, 3 if an
alert was raised, 1 if a log could not be checked.

flags:`

// exitAlerts is the exit status of `hallmark monitor --once` after alerts.
const exitAlerts = 3

func runMonitor(args []string) error {
	fs := flag.NewFlagSet("monitor", flag.ExitOnError)
	config := fs.String("config", "monitor.yaml", "monitor configuration file")
	once := fs.Bool("once", false, "poll every log once, then exit (status 3 on alerts)")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics, and the recent alerts as GET /alerts, on this address (e.g. 127.0.0.1:9464)")
	fs.Usage = func() { fmt.Fprintln(os.Stderr, monitorUsage); fs.PrintDefaults() }
	fs.Parse(args)
	cfg, err := audit.LoadMonitorConfig(*config)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.Default()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := audit.NewMonitor(ctx, cfg, logger, reg)
	if err != nil {
		return err
	}
	defer m.Close()
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return err
		}
		// GET /alerts: the recent alerts, for hallmark-log's console
		// (console.monitor_url); every other path: the metrics.
		mux := http.NewServeMux()
		mux.Handle("GET /alerts", m.AlertsHandler())
		mux.Handle("/", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln) //nolint:errcheck
		defer srv.Close()
		logger.Info("serving metrics", "addr", ln.Addr().String())
	}
	if *once {
		pollErr := m.Poll(ctx)
		if pollErr != nil {
			logger.Error("poll failed", "err", pollErr)
		}
		if n := m.Alerts(); n > 0 {
			fmt.Fprintf(os.Stderr, "hallmark monitor: %d alert(s)\n", n)
			m.Close()
			os.Exit(exitAlerts)
		}
		if pollErr != nil {
			return errors.New("a log could not be checked")
		}
		return nil
	}
	logger.Info("monitoring", "logs", len(cfg.Logs), "poll_interval", cfg.PollInterval.String())
	return m.Run(ctx)
}
