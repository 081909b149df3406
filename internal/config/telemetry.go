package config

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Telemetry is what lastmile tells about the requests it serves, besides the
// Prometheus metrics of listeners.metrics: OpenTelemetry traces and metrics
// over OTLP, the access log, and request traces for developers
// (Ocp-Apim-Trace). In lastmile.yaml, with every default:
//
//	telemetry:
//	  # OpenTelemetry is off unless a traces or metrics exporter is set here or
//	  # in the environment (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER), or an
//	  # OTLP endpoint is (OTEL_EXPORTER_OTLP_ENDPOINT). A key set here wins over
//	  # its OTEL_* variable, as code does over the environment in the OTel SDKs;
//	  # a key left out is read from the environment, then defaulted.
//	  serviceName: ""          # OTEL_SERVICE_NAME; then "lastmile"
//	  resourceAttributes: {}   # added to OTEL_RESOURCE_ATTRIBUTES, winning over it
//	  traces:
//	    exporter: ""           # otlp or none; OTEL_TRACES_EXPORTER
//	    sampler: ""            # OTEL_TRACES_SAMPLER; then parentbased_always_on
//	    samplerArg: ""         # OTEL_TRACES_SAMPLER_ARG: the ratio of *traceidratio
//	  metrics:
//	    exporter: ""           # otlp or none; OTEL_METRICS_EXPORTER
//	    interval: 0s           # OTEL_METRIC_EXPORT_INTERVAL; then 60s
//	  otlp:
//	    # The collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT: http or https
//	    # (TLS). Headers (credentials) come only from OTEL_EXPORTER_OTLP_HEADERS.
//	    endpoint: ""
//	    protocol: ""           # grpc or http/protobuf; OTEL_EXPORTER_OTLP_PROTOCOL; then http/protobuf
//	  accessLog:
//	    enabled: true          # one line per request. Default true
//	    # "" writes to the server's log; a path (relative to this file's folder)
//	    # appends to that file instead. Default "".
//	    file: ""
//	    format: text           # text or json, for a file. Default text, as the server's log
//	  requestTrace:
//	    # A request with Ocp-Apim-Trace: true and the key of a subscription
//	    # with allowTracing gets its step-by-step trace. Default true.
//	    enabled: true
//	    ttl: 15m               # how long a trace can be fetched. Default 15m; 1m to 24h
//	    maxTraces: 100         # traces kept at once, the oldest dropped. Default 100; 1 to 10000
type Telemetry struct {
	// ServiceName is service.name; "" leaves it to OTEL_SERVICE_NAME.
	ServiceName string
	// ResourceAttributes are added to the resource, in file order.
	ResourceAttributes []Attribute
	Traces             TelemetrySignal
	Metrics            TelemetrySignal
	OTLP               OTLP
	AccessLog          AccessLog
	RequestTrace       RequestTrace
}

// Attribute is one resource attribute.
type Attribute struct{ Key, Value string }

// TelemetrySignal is telemetry.traces or telemetry.metrics. Empty strings
// and zero durations are not set in the file.
type TelemetrySignal struct {
	Exporter   string // ExporterOTLP, ExporterNone or ""
	Sampler    string // traces only
	SamplerArg string // traces only
	Interval   time.Duration
}

// OTLP is where the OTLP exporters send; empty fields are not set in the file.
type OTLP struct {
	Endpoint string
	Protocol string // ProtocolGRPC, ProtocolHTTP or ""
}

// AccessLog is telemetry.accessLog.
type AccessLog struct {
	Enabled bool
	// File is the absolute path of the log file; "" is the server's log.
	File   string
	Format string // "text" or "json"
}

// RequestTrace is telemetry.requestTrace.
type RequestTrace struct {
	Enabled   bool
	TTL       time.Duration
	MaxTraces int
}

// Values of the telemetry settings.
const (
	ExporterOTLP = "otlp"
	ExporterNone = "none"
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Samplers are the values OTEL_TRACES_SAMPLER and telemetry.traces.sampler
// take.
var Samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// DefaultTelemetry is the telemetry of a file that says nothing about it.
var DefaultTelemetry = Telemetry{
	AccessLog:    AccessLog{Enabled: true, Format: "text"},
	RequestTrace: RequestTrace{Enabled: true, TTL: 15 * time.Minute, MaxTraces: 100},
}

func (d *decoder) decodeTelemetry(n *yaml.Node, t *Telemetry) {
	d.mapping(n, "telemetry", []field{
		{"serviceName", d.str("telemetry.serviceName", &t.ServiceName)},
		{"resourceAttributes", func(k, v *yaml.Node) { d.decodeAttributes(v, &t.ResourceAttributes) }},
		{"traces", func(k, v *yaml.Node) {
			d.mapping(v, "telemetry.traces", []field{
				{"exporter", d.optOneOf("telemetry.traces.exporter", &t.Traces.Exporter, ExporterOTLP, ExporterNone)},
				{"sampler", d.optOneOf("telemetry.traces.sampler", &t.Traces.Sampler, Samplers...)},
				{"samplerArg", d.ratio("telemetry.traces.samplerArg", &t.Traces.SamplerArg)},
			})
		}},
		{"metrics", func(k, v *yaml.Node) {
			d.mapping(v, "telemetry.metrics", []field{
				{"exporter", d.optOneOf("telemetry.metrics.exporter", &t.Metrics.Exporter, ExporterOTLP, ExporterNone)},
				{"interval", d.optDuration("telemetry.metrics.interval", &t.Metrics.Interval, time.Second, time.Hour)},
			})
		}},
		{"otlp", func(k, v *yaml.Node) {
			d.mapping(v, "telemetry.otlp", []field{
				{"endpoint", d.endpoint("telemetry.otlp.endpoint", &t.OTLP.Endpoint)},
				{"protocol", d.optOneOf("telemetry.otlp.protocol", &t.OTLP.Protocol, ProtocolGRPC, ProtocolHTTP)},
			})
		}},
		{"accessLog", func(k, v *yaml.Node) {
			d.mapping(v, "telemetry.accessLog", []field{
				{"enabled", d.boolean("telemetry.accessLog.enabled", &t.AccessLog.Enabled)},
				{"file", d.logFile("telemetry.accessLog.file", &t.AccessLog.File)},
				{"format", d.optOneOf("telemetry.accessLog.format", &t.AccessLog.Format, "text", "json")},
			})
		}},
		{"requestTrace", func(k, v *yaml.Node) {
			d.mapping(v, "telemetry.requestTrace", []field{
				{"enabled", d.boolean("telemetry.requestTrace.enabled", &t.RequestTrace.Enabled)},
				{"ttl", d.duration("telemetry.requestTrace.ttl", &t.RequestTrace.TTL, time.Minute, 24*time.Hour)},
				{"maxTraces", d.integer("telemetry.requestTrace.maxTraces", &t.RequestTrace.MaxTraces, 1, 10000)},
			})
		}},
	})
}

// optOneOf is oneOf where an empty string means not set.
func (d *decoder) optOneOf(path string, dst *string, values ...string) func(k, v *yaml.Node) {
	dec := d.oneOf(path, dst, values...)
	return func(k, v *yaml.Node) {
		if r := resolve(v); r != nil && r.Kind == yaml.ScalarNode && r.Value == "" {
			return
		}
		dec(k, v)
	}
}

// optDuration is duration where an empty string means not set.
func (d *decoder) optDuration(path string, dst *time.Duration, min, max time.Duration) func(k, v *yaml.Node) {
	dec := d.duration(path, dst, min, max)
	return func(k, v *yaml.Node) {
		if r := resolve(v); r != nil && r.Kind == yaml.ScalarNode && r.Value == "" {
			return
		}
		dec(k, v)
	}
}

// ratio decodes a sampling ratio from 0 to 1, kept as written.
func (d *decoder) ratio(path string, dst *string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "a ratio from 0 to 1")
		if !ok || s == "" {
			return
		}
		if f, err := strconv.ParseFloat(s, 64); err != nil || f < 0 || f > 1 {
			d.errorf(v, "%s: %q is not a ratio; write a number from 0 to 1, such as 0.25", path, s)
			return
		}
		*dst = s
	}
}

// endpoint decodes an absolute http or https URL without query or fragment.
func (d *decoder) endpoint(path string, dst *string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "a URL")
		if !ok || s == "" {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			d.errorf(v, "%s: %q is not an OTLP endpoint; write the collector's base URL, such as http://collector:4318 (https for TLS)", path, s)
			return
		}
		*dst = s
	}
}

// logFile decodes a file path, relative to the folder of lastmile.yaml.
func (d *decoder) logFile(path string, dst *string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "a file path")
		if !ok || s == "" {
			return
		}
		p := s
		if !filepath.IsAbs(p) {
			p = filepath.Join(d.dir, p)
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		*dst = p
	}
}

// decodeAttributes decodes a mapping of attribute names to string values.
func (d *decoder) decodeAttributes(n *yaml.Node, dst *[]Attribute) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "telemetry.resourceAttributes must be a mapping of names to values, not %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || strings.TrimSpace(k.Value) == "" {
			d.errorf(k, "telemetry.resourceAttributes has a key that is %s; keys are attribute names such as deployment.environment.name", kindName(k))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "telemetry.resourceAttributes.%s is set twice; remove one", k.Value)
			continue
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode || isNull(v) {
			d.errorf(v, "telemetry.resourceAttributes.%s must be a string, not %s", k.Value, kindName(v))
			continue
		}
		*dst = append(*dst, Attribute{Key: k.Value, Value: v.Value})
	}
}

func marshalTelemetry(t Telemetry) *yaml.Node {
	attrs := mapNode()
	for _, a := range t.ResourceAttributes {
		attrs.Content = append(attrs.Content, str(a.Key), str(a.Value))
	}
	dur := func(d time.Duration) *yaml.Node {
		if d == 0 {
			return str("")
		}
		return str(formatDuration(d))
	}
	return mapNode(
		"serviceName", str(t.ServiceName),
		"resourceAttributes", attrs,
		"traces", mapNode("exporter", str(t.Traces.Exporter), "sampler", str(t.Traces.Sampler), "samplerArg", str(t.Traces.SamplerArg)),
		"metrics", mapNode("exporter", str(t.Metrics.Exporter), "interval", dur(t.Metrics.Interval)),
		"otlp", mapNode("endpoint", str(t.OTLP.Endpoint), "protocol", str(t.OTLP.Protocol)),
		"accessLog", mapNode(
			"enabled", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t.AccessLog.Enabled)},
			"file", str(t.AccessLog.File),
			"format", str(t.AccessLog.Format),
		),
		"requestTrace", mapNode(
			"enabled", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t.RequestTrace.Enabled)},
			"ttl", str(formatDuration(t.RequestTrace.TTL)),
			"maxTraces", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(t.RequestTrace.MaxTraces)},
		),
	)
}
