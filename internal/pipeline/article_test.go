package pipeline

import "testing"

func TestArticle(t *testing.T) {
	for _, tt := range []struct{ word, want string }{
		{"url", "a"}, {"username", "a"}, {"uri", "a"}, {"unique-id", "a"},
		{"unspecified-status-code-action", "an"}, {"id", "an"}, {"interval", "an"},
		{"key", "a"}, {"resource", "a"}, {"", "a"},
	} {
		if got := article(tt.word); got != tt.want {
			t.Errorf("article(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}
