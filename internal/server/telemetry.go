package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
	"github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/telemetry"
)

// observability is what the server tells about itself, set up once at start
// from lastmile.yaml's telemetry section and listeners.metrics (a reload
// names changes to them as needing a restart).
type observability struct {
	tel     *telemetry.Telemetry
	reg     *prometheus.Registry
	metrics *gateway.Metrics // nil when no one reads metrics
	access  *slog.Logger     // nil when the access log is off
	file    io.Closer        // the access log's file, if any
	traces  *reqtrace.Store  // nil when request traces are off
}

// setupObservability builds the Prometheus registry and metrics (when
// listeners.metrics is set or OpenTelemetry exports metrics), OpenTelemetry,
// the access log and the request trace store.
func (s *Server) setupObservability(ctx context.Context, cfg *config.Config) error {
	o := &s.obs
	o.reg = prometheus.NewRegistry()
	var err error
	if o.tel, err = telemetry.Setup(ctx, telemetry.Options{Config: cfg.Telemetry, Version: s.opts.Version, Gatherer: o.reg, Logger: s.log}); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	if s.metricsLn != nil || o.tel.MetricsOn() {
		o.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			gateway.BreakerCollector{Breakers: &s.breakers})
		o.metrics = gateway.NewMetrics(o.reg)
	}
	if a := cfg.Telemetry.AccessLog; a.Enabled {
		if o.access, o.file, err = accessLogger(a, s.log); err != nil {
			return err
		}
	}
	if t := cfg.Telemetry.RequestTrace; t.Enabled {
		o.traces = &reqtrace.Store{TTL: t.TTL, Max: t.MaxTraces}
	}
	return nil
}

// accessLogger is the server's logger, or a logger appending to the file a
// names, in its format.
func accessLogger(a config.AccessLog, log *slog.Logger) (*slog.Logger, io.Closer, error) {
	if a.File == "" {
		return log, nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(a.File), 0o750); err != nil {
		return nil, nil, fmt.Errorf("telemetry.accessLog.file: %w", err)
	}
	f, err := os.OpenFile(a.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry.accessLog.file: %w", err)
	}
	var h slog.Handler = slog.NewTextHandler(f, nil)
	if a.Format == "json" {
		h = slog.NewJSONHandler(f, nil)
	}
	return slog.New(h), f, nil
}

// close stops the exporters, after they sent what they hold, and closes the
// access log's file.
func (o *observability) close(ctx context.Context) error {
	err := o.tel.Shutdown(ctx)
	if o.file != nil {
		o.file.Close()
	}
	return err
}

// The observers each part takes: nil interfaces when there are no metrics,
// never a nil *gateway.Metrics in an interface.

func (o *observability) cacheObserver() []identity.CacheOption {
	if o.metrics == nil {
		return nil
	}
	return []identity.CacheOption{identity.WithObserver(o.metrics)}
}

func (o *observability) idpOptions() []idp.Option {
	if o.metrics == nil {
		return nil
	}
	return []idp.Option{idp.WithObserver(o.metrics)}
}

func (o *observability) policyMetrics() policies.Metrics {
	if o.metrics == nil {
		return nil
	}
	return o.metrics
}

func (o *observability) redisObserver() store.RedisObserver {
	if o.metrics == nil {
		return nil
	}
	return o.metrics
}

// settings describe the observability for the start log.
func (o *observability) settings(cfg config.Telemetry) []any {
	out := o.tel.Settings()
	switch a := cfg.AccessLog; {
	case !a.Enabled:
		out = append(out, "access_log", "off")
	case a.File != "":
		out = append(out, "access_log", a.File)
	}
	if o.traces != nil {
		out = append(out, "request_traces", "on")
	}
	return out
}
