package telemetry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lastmile-gw/lastmile/internal/config"
)

// TestSetup decides from lastmile.yaml and the OTEL_* environment whether
// traces and metrics are exported, and how: off by default, on when an
// exporter or an endpoint is named, the file winning over the environment,
// and a value lastmile cannot use refused with the variable's name.
func TestSetup(t *testing.T) {
	otlp := config.TelemetrySignal{Exporter: config.ExporterOTLP}
	none := config.TelemetrySignal{Exporter: config.ExporterNone}
	for _, tc := range []struct {
		name    string
		file    config.Telemetry
		env     map[string]string
		traces  string // the settings' otel_traces, "" when off
		metrics string
		err     string
	}{
		{name: "off by default"},
		{name: "an endpoint in the environment turns both on", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			traces: "http/protobuf http://collector:4318", metrics: "http/protobuf http://collector:4318"},
		{name: "a signal's endpoint turns that signal on", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"},
			traces: "http/protobuf http://c:4318/v1/traces"},
		{name: "the environment's exporter none wins over its endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"},
			metrics: "http/protobuf http://c:4318"},
		{name: "the file's exporter wins over the environment's", file: config.Telemetry{Traces: otlp, Metrics: none},
			env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "otlp"}, traces: "http/protobuf the SDK's default (localhost)"},
		{name: "the file's protocol and endpoint win", file: config.Telemetry{Traces: otlp, OTLP: config.OTLP{Endpoint: "https://file:4317", Protocol: "grpc"}},
			env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}, traces: "grpc https://file:4317", metrics: "grpc https://file:4317"},
		{name: "the environment's protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://u:p@env:4317?x=1"},
			traces: "grpc http://env:4317", metrics: "grpc http://env:4317"},
		{name: "OTEL_SDK_DISABLED", file: config.Telemetry{Traces: otlp}, env: map[string]string{"OTEL_SDK_DISABLED": "true"}},
		{name: "an exporter lastmile does not have", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"},
			err: `OTEL_TRACES_EXPORTER="zipkin": lastmile exports traces over OTLP only`},
		{name: "an unknown protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
			err: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/json": use grpc or http/protobuf`},
		{name: "an unknown sampler", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "sometimes"},
			err: `OTEL_TRACES_SAMPLER="sometimes": use one of`},
		{name: "a bad ratio", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
			err: `OTEL_TRACES_SAMPLER_ARG="2": write a ratio from 0 to 1`},
		{name: "the file's sampler with the environment's ratio", file: config.Telemetry{Traces: config.TelemetrySignal{Exporter: "otlp", Sampler: "parentbased_traceidratio"}},
			env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off", "OTEL_TRACES_SAMPLER_ARG": "0.5"}, traces: "http/protobuf the SDK's default (localhost)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"} {
				t.Setenv(k, tc.env[k])
			}
			tel, err := Setup(context.Background(), Options{Config: tc.file, Gatherer: prometheus.NewRegistry()})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				// Nothing listens: give up on the last export at once.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				defer cancel()
				tel.Shutdown(ctx)
			}()
			got := map[string]string{}
			s := tel.Settings()
			for i := 0; i+1 < len(s); i += 2 {
				got[s[i].(string)] = s[i+1].(string)
			}
			if got["otel_traces"] != tc.traces || got["otel_metrics"] != tc.metrics {
				t.Errorf("settings %v, want traces %q metrics %q", got, tc.traces, tc.metrics)
			}
			if (tel.Tracer() != nil) != (tc.traces != "") {
				t.Errorf("Tracer() = %v with traces %q", tel.Tracer(), tc.traces)
			}
		})
	}
}

// TestSampler: the file's sampler, with the environment's ratio when the
// file has none, decides which new traces are recorded.
func TestSampler(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "")
	s, err := newSampler(config.TelemetrySignal{Sampler: "always_off"})
	if err != nil || !strings.Contains(s.Description(), "AlwaysOff") {
		t.Errorf("always_off: %v, %v", s, err)
	}
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
	s, err = newSampler(config.TelemetrySignal{Sampler: "traceidratio"})
	if err != nil || s.Description() != "TraceIDRatioBased{0.25}" {
		t.Errorf("traceidratio with the environment's ratio: %v, %v", s.Description(), err)
	}
	s, _ = newSampler(config.TelemetrySignal{})
	if !strings.HasPrefix(s.Description(), "ParentBased{root:AlwaysOnSampler") {
		t.Errorf("default %s", s.Description())
	}
}
