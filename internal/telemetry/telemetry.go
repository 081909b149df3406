// Package telemetry sets up OpenTelemetry for lastmile: a tracer provider and
// a meter provider exporting over OTLP (gRPC or HTTP/protobuf), configured by
// lastmile.yaml's telemetry section and the standard OTEL_* environment
// variables. It is off unless an exporter or an OTLP endpoint is named.
//
// A key written in lastmile.yaml wins over its environment variable, as code
// wins over the environment in the OTel SDKs; what the file leaves out is read
// from the environment (by the SDK itself for what lastmile does not decide:
// OTLP headers, timeouts, certificates, compression, batching), then
// defaulted.
//
// The data plane's packages use only the OTel API, on the spans in their
// requests' contexts: when nothing is set up, no span is ever started and
// nothing is allocated for tracing.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	prombridge "go.opentelemetry.io/contrib/bridges/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lastmile-gw/lastmile/internal/config"
)

// ScopeName is the instrumentation scope of lastmile's spans.
const ScopeName = "github.com/lastmile-gw/lastmile"

// Options are what Setup needs besides the environment.
type Options struct {
	Config config.Telemetry
	// Version is service.version.
	Version string
	// Gatherer holds the Prometheus metrics, exported over OTLP too when the
	// metrics exporter is otlp; nil exports none.
	Gatherer prometheus.Gatherer
	// Logger receives the SDK's errors (an unreachable collector, say).
	Logger *slog.Logger
}

// Telemetry is OpenTelemetry as configured. The zero value, and a nil
// *Telemetry, are off.
type Telemetry struct {
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	settings []any
}

// Settings is what was resolved, for the log: the protocol and endpoint of
// each signal that is on.
func (t *Telemetry) Settings() []any {
	if t == nil {
		return nil
	}
	return t.settings
}

// Tracer returns lastmile's tracer, or nil when traces are off: callers
// check for nil and then never touch tracing.
func (t *Telemetry) Tracer() trace.Tracer {
	if t == nil || t.tp == nil {
		return nil
	}
	return t.tp.Tracer(ScopeName)
}

// MetricsOn reports whether metrics are exported over OTLP.
func (t *Telemetry) MetricsOn() bool { return t != nil && t.mp != nil }

// Shutdown exports what is buffered and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx))
	}
	if t.mp != nil {
		errs = append(errs, t.mp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Setup builds the providers that o.Config and the environment ask for. A
// setting it cannot use (an exporter other than otlp or none, a protocol or
// sampler it does not know) is an error naming the variable.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	c := o.Config
	if b, _ := strconv.ParseBool(os.Getenv("OTEL_SDK_DISABLED")); b {
		return &Telemetry{}, nil
	}
	traces, err := exporterFor("traces", c.Traces.Exporter, c.OTLP.Endpoint)
	if err != nil {
		return nil, err
	}
	metrics, err := exporterFor("metrics", c.Metrics.Exporter, c.OTLP.Endpoint)
	if err != nil {
		return nil, err
	}
	if o.Gatherer == nil {
		metrics = false
	}
	t := &Telemetry{}
	if !traces && !metrics {
		return t, nil
	}
	res, err := newResource(ctx, c, o.Version)
	if err != nil {
		return nil, err
	}
	if o.Logger != nil {
		log := o.Logger
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("opentelemetry export failed", "error", err)
		}))
	}
	if traces {
		if err := t.setupTraces(ctx, c, res); err != nil {
			return nil, err
		}
	}
	if metrics {
		if err := t.setupMetrics(ctx, c, res, o.Gatherer); err != nil {
			t.Shutdown(ctx)
			return nil, err
		}
	}
	return t, nil
}

// exporterFor decides whether a signal is exported: the file's exporter,
// else OTEL_<SIGNAL>_EXPORTER, else on when an OTLP endpoint is named
// (the specification's default exporter is otlp; lastmile does not send to
// localhost unless told where to send).
func exporterFor(signal, file, fileEndpoint string) (bool, error) {
	if file != "" {
		return file == config.ExporterOTLP, nil
	}
	key := "OTEL_" + strings.ToUpper(signal) + "_EXPORTER"
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(key))); v {
	case "otlp":
		return true, nil
	case "none":
		return false, nil
	case "":
		return fileEndpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
			os.Getenv("OTEL_EXPORTER_OTLP_"+strings.ToUpper(signal)+"_ENDPOINT") != "", nil
	default:
		return false, fmt.Errorf("%s=%q: lastmile exports %s over OTLP only; set it to otlp or none", key, v, signal)
	}
}

// protocol is the file's protocol, else OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL,
// else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf (the specification's
// default).
func protocol(signal, file string) (string, error) {
	if file != "" {
		return file, nil
	}
	for _, key := range []string{"OTEL_EXPORTER_OTLP_" + strings.ToUpper(signal) + "_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		switch v := strings.TrimSpace(os.Getenv(key)); v {
		case "":
			continue
		case config.ProtocolGRPC, config.ProtocolHTTP:
			return v, nil
		default:
			return "", fmt.Errorf("%s=%q: use grpc or http/protobuf", key, v)
		}
	}
	return config.ProtocolHTTP, nil
}

// endpoint describes where a signal goes, for the log, without credentials
// or query.
func endpoint(signal, file string) string {
	e := file
	if e == "" {
		e = os.Getenv("OTEL_EXPORTER_OTLP_" + strings.ToUpper(signal) + "_ENDPOINT")
	}
	if e == "" {
		e = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if e == "" {
		return "the SDK's default (localhost)"
	}
	u, err := url.Parse(e)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

func newResource(ctx context.Context, c config.Telemetry, version string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceName("lastmile"), semconv.ServiceVersion(version)}
	file := make([]attribute.KeyValue, 0, len(c.ResourceAttributes)+1)
	for _, a := range c.ResourceAttributes {
		file = append(file, attribute.String(a.Key, a.Value))
	}
	if c.ServiceName != "" {
		file = append(file, semconv.ServiceName(c.ServiceName))
	}
	// Later options win: lastmile's defaults, then OTEL_RESOURCE_ATTRIBUTES
	// and OTEL_SERVICE_NAME, then the file.
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv(),
		resource.WithTelemetrySDK(), resource.WithAttributes(file...))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	return res, nil
}

func (t *Telemetry) setupTraces(ctx context.Context, c config.Telemetry, res *resource.Resource) error {
	proto, err := protocol("traces", c.OTLP.Protocol)
	if err != nil {
		return err
	}
	sampler, err := newSampler(c.Traces)
	if err != nil {
		return err
	}
	var exp sdktrace.SpanExporter
	if proto == config.ProtocolGRPC {
		var opts []otlptracegrpc.Option
		if c.OTLP.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(c.OTLP.Endpoint))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	} else {
		var opts []otlptracehttp.Option
		if c.OTLP.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(signalURL(c.OTLP.Endpoint, "traces")))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return fmt.Errorf("OTLP trace exporter: %w", err)
	}
	t.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithSampler(sampler))
	t.settings = append(t.settings, "otel_traces", proto+" "+endpoint("traces", c.OTLP.Endpoint))
	return nil
}

func (t *Telemetry) setupMetrics(ctx context.Context, c config.Telemetry, res *resource.Resource, g prometheus.Gatherer) error {
	proto, err := protocol("metrics", c.OTLP.Protocol)
	if err != nil {
		return err
	}
	var exp sdkmetric.Exporter
	if proto == config.ProtocolGRPC {
		var opts []otlpmetricgrpc.Option
		if c.OTLP.Endpoint != "" {
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(c.OTLP.Endpoint))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	} else {
		var opts []otlpmetrichttp.Option
		if c.OTLP.Endpoint != "" {
			opts = append(opts, otlpmetrichttp.WithEndpointURL(signalURL(c.OTLP.Endpoint, "metrics")))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	}
	if err != nil {
		return fmt.Errorf("OTLP metric exporter: %w", err)
	}
	// The Prometheus metrics are the one source: the bridge reads them at
	// each export, so both listeners see the same numbers.
	ropts := []sdkmetric.PeriodicReaderOption{sdkmetric.WithProducer(prombridge.NewMetricProducer(prombridge.WithGatherer(g)))}
	if c.Metrics.Interval > 0 {
		ropts = append(ropts, sdkmetric.WithInterval(c.Metrics.Interval))
	}
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, ropts...)))
	t.settings = append(t.settings, "otel_metrics", proto+" "+endpoint("metrics", c.OTLP.Endpoint))
	return nil
}

// signalURL is the OTLP/HTTP URL of a signal under a base endpoint, as the
// specification builds it from OTEL_EXPORTER_OTLP_ENDPOINT.
func signalURL(base, signal string) string {
	return strings.TrimSuffix(base, "/") + "/v1/" + signal
}

// newSampler is the sampler the file names, else OTEL_TRACES_SAMPLER, with
// the file's ratio, else OTEL_TRACES_SAMPLER_ARG; parentbased_always_on by
// default.
func newSampler(s config.TelemetrySignal) (sdktrace.Sampler, error) {
	name, arg := s.Sampler, s.SamplerArg
	nameFrom, argFrom := "telemetry.traces.sampler", "telemetry.traces.samplerArg"
	if name == "" {
		name, nameFrom = strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER"))), "OTEL_TRACES_SAMPLER"
	}
	if arg == "" {
		arg, argFrom = strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG")), "OTEL_TRACES_SAMPLER_ARG"
	}
	ratio := 1.0
	if strings.HasSuffix(name, "traceidratio") && arg != "" {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("%s=%q: write a ratio from 0 to 1", argFrom, arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("%s=%q: use one of %s", nameFrom, name, strings.Join(config.Samplers, ", "))
}
