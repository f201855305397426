package main

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// Each implementation available here is timed, on real runs: a missing one
// says why, and a present one gives a positive median in the range of Go's.
func TestScryptImpls_TimesEveryImplementationAvailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	goRuns := scryptRuns(ctx, 3)
	impls := scryptImpls(ctx, goRuns, 2)
	if len(impls) != 3 {
		t.Fatalf("%d implementations, want 3: %+v", len(impls), impls)
	}
	for _, im := range impls {
		if im.Err != "" {
			t.Logf("%s: %s", im.Name, im.Err)
			continue
		}
		t.Logf("%s: %.1f ms", im.Name, im.MedianMs)
		// Same parameters, so the same order of magnitude: a run ten
		// times faster or slower than Go's means different parameters.
		if q := im.MedianMs / impls[0].MedianMs; q < 0.1 || q > 10 {
			t.Errorf("%s: %.1f ms against Go's %.1f ms: not the same work", im.Name, im.MedianMs, impls[0].MedianMs)
		}
	}
	if _, err := exec.LookPath("python3"); err == nil && impls[1].Err != "" {
		t.Errorf("python3 is installed, yet: %s", impls[1].Err)
	}
	if _, err := exec.LookPath("openssl"); err == nil && impls[2].Err != "" {
		t.Errorf("openssl is installed, yet: %s", impls[2].Err)
	}
	if f := fastestScrypt(impls); f.MedianMs <= 0 || f.MedianMs > impls[0].MedianMs {
		t.Errorf("fastest %+v", f)
	}
}
