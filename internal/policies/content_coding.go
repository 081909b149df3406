package policies

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// contentCoding is a message's Content-Encoding, lower case, or "" when it
// has none (or identity).
func contentCoding(h http.Header) string {
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	if enc == "identity" {
		return ""
	}
	return enc
}

// decoded is data without its content coding enc (gzip, deflate, br or
// zstd), at most limit bytes of it; over says there was more. A coding it
// does not know, several codings, or data that is not what enc says are
// errors.
func decoded(enc string, data []byte, limit int64) (plain []byte, over bool, err error) {
	var r io.Reader
	src := bytes.NewReader(data)
	switch enc {
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(src)
	case "deflate":
		// HTTP's deflate is zlib's format; some servers send raw deflate.
		if r, err = zlib.NewReader(src); err != nil {
			r, err = flate.NewReader(bytes.NewReader(data)), nil
		}
	case "br":
		r = brotli.NewReader(src)
	case "zstd":
		d, zerr := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1<<20))
		if zerr != nil {
			return nil, false, zerr
		}
		defer d.Close()
		r = d
	default:
		return nil, false, fmt.Errorf("the body's Content-Encoding %q is not one the gateway can read (gzip, deflate, br, zstd)", enc)
	}
	if err != nil {
		return nil, false, fmt.Errorf("the body is not %s data: %w", enc, err)
	}
	plain, err = io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, fmt.Errorf("the body is not %s data: %w", enc, err)
	}
	if int64(len(plain)) > limit {
		return nil, true, nil
	}
	return plain, false, nil
}
