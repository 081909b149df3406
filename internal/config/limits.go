package config

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Limits bound what one client can make the data plane spend. The defaults
// are Kestrel's, the server under API Management's self-hosted gateway, and
// every limit answers with a clear status. In lastmile.yaml:
//
//	limits:
//	  requestLine: 8KiB        # the request line; 414 beyond. Default 8KiB
//	  headerBytes: 32KiB       # the request line and header fields together; 431 beyond. Default 32KiB
//	  headerCount: 100         # header fields; 431 beyond. Default 100
//	  headerTimeout: 30s       # to send the header once it started; 408. Default 30s
//	  idleTimeout: 120s        # a keep-alive connection waiting for its next request. Default 120s
//	  # The slowest a request body may arrive, in bytes per second, once the
//	  # grace period is over (408 below it); 0 turns the check off. Default 240.
//	  minBodyRate: 240
//	  bodyGracePeriod: 5s      # Default 5s
//	  # The slowest a client may read a response, in bytes per second, after 5s
//	  # for each write; the connection is closed below it. 0 turns it off. Default 240.
//	  minResponseRate: 240
//	  # The most a policy may buffer of one request or response body (413 for a
//	  # request body over it). Default 16MiB.
//	  bufferedBody: 16MiB
//	  # The most all buffered bodies may take together, all requests at once
//	  # (503 for a request that would go over it). Default 256MiB.
//	  bufferedBodies: 256MiB
//	  # How long a WebSocket tunnel may carry nothing either way before both
//	  # its connections are closed; 0 keeps tunnels open. Default 10m.
//	  tunnelIdleTimeout: 10m
//
// Sizes are a number of bytes or a number with KiB, MiB or GiB.
type Limits struct {
	RequestLine     int
	HeaderBytes     int
	HeaderCount     int
	HeaderTimeout   time.Duration
	IdleTimeout     time.Duration
	MinBodyRate     int // bytes per second; 0 is off
	BodyGracePeriod time.Duration
	MinResponseRate int // bytes per second; 0 is off
	BufferedBody    int64
	BufferedBodies  int64
	// TunnelIdleTimeout closes a WebSocket tunnel that carried nothing
	// either way for that long; 0 is off.
	TunnelIdleTimeout time.Duration
}

// DefaultLimits are the defaults documented on Limits.
var DefaultLimits = Limits{
	RequestLine:     8 << 10,
	HeaderBytes:     32 << 10,
	HeaderCount:     100,
	HeaderTimeout:   30 * time.Second,
	IdleTimeout:     120 * time.Second,
	MinBodyRate:     240,
	BodyGracePeriod: 5 * time.Second,
	MinResponseRate: 240,
	BufferedBody:    16 << 20,
	BufferedBodies:  256 << 20,

	TunnelIdleTimeout: 10 * time.Minute,
}

func (d *decoder) decodeLimits(n *yaml.Node, l *Limits) {
	d.mapping(n, "limits", []field{
		{"requestLine", d.size("limits.requestLine", intSize(&l.RequestLine), 256, 1<<20)},
		{"headerBytes", d.size("limits.headerBytes", intSize(&l.HeaderBytes), 1<<10, 16<<20)},
		{"headerCount", d.integer("limits.headerCount", &l.HeaderCount, 1, 10000)},
		{"headerTimeout", d.duration("limits.headerTimeout", &l.HeaderTimeout, time.Second, time.Hour)},
		{"idleTimeout", d.duration("limits.idleTimeout", &l.IdleTimeout, time.Second, 24*time.Hour)},
		{"minBodyRate", d.integer("limits.minBodyRate", &l.MinBodyRate, 0, 1<<30)},
		{"bodyGracePeriod", d.duration("limits.bodyGracePeriod", &l.BodyGracePeriod, 0, time.Hour)},
		{"minResponseRate", d.integer("limits.minResponseRate", &l.MinResponseRate, 0, 1<<30)},
		{"bufferedBody", d.size("limits.bufferedBody", func(n int64) { l.BufferedBody = n }, 1<<10, 1<<40)},
		{"bufferedBodies", d.size("limits.bufferedBodies", func(n int64) { l.BufferedBodies = n }, 1<<10, 1<<50)},
		{"tunnelIdleTimeout", d.duration("limits.tunnelIdleTimeout", &l.TunnelIdleTimeout, 0, 24*time.Hour)},
	})
}

func intSize(dst *int) func(int64) { return func(n int64) { *dst = int(n) } }

// size decodes a number of bytes, written plainly or with a KiB, MiB or GiB
// suffix, between min and max.
func (d *decoder) size(path string, set func(int64), min, max int64) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "a size such as 65536, 64KiB or 16MiB")
		if !ok {
			return
		}
		n, ok := parseSize(s)
		if !ok {
			d.errorf(v, "%s: %q is not a size; write a number of bytes, or one with KiB, MiB or GiB, such as 16MiB", path, s)
			return
		}
		if n < min || n > max {
			d.errorf(v, "%s: %s is out of range; use %s to %s", path, s, formatSize(min), formatSize(max))
			return
		}
		set(n)
	}
}

var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}}

func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	shift := uint(0)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = strings.TrimSpace(num), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, false
	}
	return n << shift, true
}

// formatSize writes n with the largest unit that divides it.
func formatSize(n int64) string {
	for _, u := range sizeUnits {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func marshalLimits(l Limits) *yaml.Node {
	num := func(n int) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)} }
	return mapNode(
		"requestLine", str(formatSize(int64(l.RequestLine))),
		"headerBytes", str(formatSize(int64(l.HeaderBytes))),
		"headerCount", num(l.HeaderCount),
		"headerTimeout", str(formatDuration(l.HeaderTimeout)),
		"idleTimeout", str(formatDuration(l.IdleTimeout)),
		"minBodyRate", num(l.MinBodyRate),
		"bodyGracePeriod", str(formatDuration(l.BodyGracePeriod)),
		"minResponseRate", num(l.MinResponseRate),
		"bufferedBody", str(formatSize(l.BufferedBody)),
		"bufferedBodies", str(formatSize(l.BufferedBodies)),
		"tunnelIdleTimeout", str(formatDuration(l.TunnelIdleTimeout)),
	)
}
