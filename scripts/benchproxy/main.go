// Command benchproxy is the bare Go reverse proxy that scripts/bench-peers.sh
// measures lastmile against: net/http/httputil.ReverseProxy with a buffer pool
// and a transport tuned as lastmile's is, and nothing else.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(p []byte) { b.p.Put(&p) }

func main() {
	listen := flag.String("listen", "127.0.0.1:18083", "address to serve")
	backend := flag.String("backend", "http://127.0.0.1:18080", "backend URL")
	flag.Parse()
	target, err := url.Parse(*backend)
	if err != nil {
		log.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	rp.BufferPool = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
	srv := &http.Server{Addr: *listen, Handler: rp, ReadHeaderTimeout: 30 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
