package exchange_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// TestDone: what OnDone registered runs once, in order, with the usage and a
// context the request's end does not cancel.
func TestDone(t *testing.T) {
	var x exchange.Exchange
	var got []string
	for _, name := range []string{"first", "second"} {
		x.OnDone(func(ctx context.Context, u exchange.Usage) {
			got = append(got, fmt.Sprintf("%s %d+%d cancelled=%v", name, u.RequestBytes, u.ResponseBytes, ctx.Err() != nil))
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	x.Done(ctx, exchange.Usage{RequestBytes: 1, ResponseBytes: 2})
	x.Done(ctx, exchange.Usage{})
	if diff := cmp.Diff([]string{"first 1+2 cancelled=false", "second 1+2 cancelled=false"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMark(t *testing.T) {
	var x exchange.Exchange
	got := []bool{x.Mark("a"), x.Mark("b"), x.Mark("a")}
	if diff := cmp.Diff([]bool{true, true, false}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestOnClose: fn runs once when an unread stream is closed, however often;
// a body that is not an unread stream has nothing to wait for.
func TestOnClose(t *testing.T) {
	closed := 0
	b := exchange.NewStreamBody(io.NopCloser(strings.NewReader("data")), -1, nil)
	if !b.OnClose(func() { closed++ }) {
		t.Fatal("OnClose on a stream reported false")
	}
	r := b.Reader()
	if data, _ := io.ReadAll(r); string(data) != "data" {
		t.Errorf("the stream reads %q", data)
	}
	r.Close()
	r.Close()
	b.Close()
	if closed != 1 {
		t.Errorf("fn ran %d times, want 1", closed)
	}
	// Closing the body itself, without reading it, counts too.
	b = exchange.NewStreamBody(io.NopCloser(strings.NewReader("data")), -1, nil)
	b.OnClose(func() { closed++ })
	b.Close()
	if closed != 2 {
		t.Errorf("closing an unread body: fn ran %d times in all, want 2", closed)
	}
	for name, b := range map[string]*exchange.Body{
		"buffered": exchange.NewBytesBody([]byte("x")),
		"nil":      nil,
		"empty":    exchange.NewStreamBody(nil, 0, nil),
	} {
		if b.OnClose(func() { t.Errorf("%s: fn ran", name) }) {
			t.Errorf("OnClose on a %s body reported true", name)
		}
		b.Close()
	}
}
