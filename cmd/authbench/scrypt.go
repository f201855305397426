package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// scryptImpl is one scrypt implementation timed on Better Auth's parameters,
// one run at a time. The hash-bound limit is taken against the fastest: a
// "× limit" figure measured against a slow scrypt would flatter the server.
type scryptImpl struct {
	Name     string    `json:"name"`
	MedianMs float64   `json:"median_ms"`
	RunsMs   []float64 `json:"runs_ms,omitempty"`
	// Err says why the implementation could not be timed (not installed);
	// it then takes no part in the comparison.
	Err string `json:"error,omitempty"`
}

// scryptSalt is the salt every timed run uses: 32 hex characters, taken as
// a string, as Better Auth's salts are.
const scryptSalt = "0123456789abcdef0123456789abcdef"

// The product hashes with x/crypto's scrypt.Key (caddyauth/internal/password),
// the same function scryptRuns times: that entry stands for both.
const goScryptName = "Go x/crypto scrypt.Key (the product's own)"

// scryptImpls times n runs of each implementation available: Go's (the
// given runs), OpenSSL's through Python's hashlib (one process, so no
// start-up cost is counted), and the openssl command's `kdf SCRYPT` (one
// process per run, with the cost of a trivial run subtracted).
func scryptImpls(ctx context.Context, goRuns []time.Duration, n int) []scryptImpl {
	out := []scryptImpl{{Name: goScryptName, MedianMs: ms(median(goRuns)), RunsMs: msList(goRuns)}}
	out = append(out, pythonScrypt(ctx, n), opensslScrypt(ctx, n))
	return out
}

// fastestScrypt is the implementation with the lowest median.
func fastestScrypt(impls []scryptImpl) scryptImpl {
	best := impls[0]
	for _, im := range impls[1:] {
		if im.Err == "" && im.MedianMs > 0 && im.MedianMs < best.MedianMs {
			best = im
		}
	}
	return best
}

const pythonScryptProgram = `
import hashlib, sys, time
n = int(sys.argv[1])
pw, salt = sys.argv[2].encode(), sys.argv[3].encode()
hashlib.scrypt(pw, salt=salt, n=16384, r=16, p=1, maxmem=64 << 20, dklen=64)  # warm-up
for _ in range(n):
    t0 = time.perf_counter()
    hashlib.scrypt(pw, salt=salt, n=16384, r=16, p=1, maxmem=64 << 20, dklen=64)
    print((time.perf_counter() - t0) * 1000.0, flush=True)
`

func pythonScrypt(ctx context.Context, n int) scryptImpl {
	im := scryptImpl{Name: "OpenSSL via Python hashlib.scrypt"}
	py, err := exec.LookPath("python3")
	if err != nil {
		im.Err = "python3 not found"
		return im
	}
	cmd := exec.CommandContext(ctx, py, "-c", pythonScryptProgram, strconv.Itoa(n), benchPassword, scryptSalt)
	outb, err := cmd.Output()
	if err != nil {
		im.Err = fmt.Sprintf("python3: %v", err)
		return im
	}
	var runs []time.Duration
	sc := bufio.NewScanner(strings.NewReader(string(outb)))
	for sc.Scan() {
		v, err := strconv.ParseFloat(strings.TrimSpace(sc.Text()), 64)
		if err != nil {
			im.Err = fmt.Sprintf("python3 printed %q", sc.Text())
			return im
		}
		runs = append(runs, time.Duration(v*float64(time.Millisecond)))
	}
	if len(runs) == 0 {
		im.Err = "python3 printed nothing"
		return im
	}
	im.RunsMs, im.MedianMs = msList(runs), ms(median(runs))
	return im
}

func opensslScrypt(ctx context.Context, n int) scryptImpl {
	im := scryptImpl{Name: "openssl kdf SCRYPT (process start subtracted)"}
	bin, err := exec.LookPath("openssl")
	if err != nil {
		im.Err = "openssl not found"
		return im
	}
	run := func(cost string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, bin, "kdf", "-keylen", "64",
			"-kdfopt", "pass:"+benchPassword, "-kdfopt", "salt:"+scryptSalt,
			"-kdfopt", "n:"+cost, "-kdfopt", "r:16", "-kdfopt", "p:1",
			"-kdfopt", "maxmem_bytes:67108864", "SCRYPT")
		t0 := time.Now()
		err := cmd.Run()
		return time.Since(t0), err
	}
	var base, full []time.Duration
	for range n {
		b, err := run("2")
		if err != nil {
			im.Err = fmt.Sprintf("openssl kdf: %v", err)
			return im
		}
		f, err := run("16384")
		if err != nil {
			im.Err = fmt.Sprintf("openssl kdf: %v", err)
			return im
		}
		base, full = append(base, b), append(full, f)
	}
	start := median(base)
	var runs []time.Duration
	for _, f := range full {
		runs = append(runs, max(f-start, 0))
	}
	im.RunsMs, im.MedianMs = msList(runs), ms(median(runs))
	return im
}
