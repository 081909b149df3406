package server

import (
	"log/slog"
	"net/http"
	"testing"
)

// TestSideServersBoundTheirWaits: every listener beside the data plane (the
// identity endpoints, the console, metrics, ACME) comes from sideServer, so
// none waits without end for a head or on an idle keep-alive connection.
func TestSideServersBoundTheirWaits(t *testing.T) {
	srv := (&Server{log: slog.New(slog.DiscardHandler)}).sideServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 || srv.ErrorLog == nil {
		t.Errorf("header timeout %v, idle timeout %v, error log %v: want all set", srv.ReadHeaderTimeout, srv.IdleTimeout, srv.ErrorLog)
	}
}
