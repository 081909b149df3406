package corpustest

import (
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	if _, err := Find("no such folder"); err == nil || !strings.Contains(err.Error(), "no such folder is not here") {
		t.Errorf("Find(a missing folder) = %v, want an error naming it", err)
	}
	root, err := Find()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	sample := Dir(t, "apiops/SampleArtifacts")
	if !strings.HasPrefix(sample, root) || !strings.HasSuffix(sample, "SampleArtifacts") {
		t.Errorf("Dir(apiops/SampleArtifacts) = %s, want it under %s", sample, root)
	}
}
