// Package loadgen drives an HTTP endpoint with N concurrent keep-alive
// clients for a fixed time and reports throughput and latency percentiles.
// It backs "writ bench". By default it refuses targets outside the loopback
// range, so that a mistyped URL never loads someone else's server.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDone, returned by a Request builder, ends that worker without
// counting an error (the prepared work is used up).
var ErrDone = errors.New("loadgen: done")

// Request builds the i-th request a worker sends.
type Request func(ctx context.Context, worker, i int) (*http.Request, error)

// Check judges a response; a non-nil error counts the request as failed.
type Check func(status int, body []byte) error

// Config describes one run.
type Config struct {
	// Target is the URL being loaded, used for the loopback check.
	Target string
	// AllowRemote permits a target outside 127.0.0.0/8 and ::1.
	AllowRemote bool
	// Concurrency is the number of workers, each with one keep-alive
	// connection.
	Concurrency int
	// Duration bounds the run.
	Duration time.Duration
	// MaxRequests, when positive, also bounds the number of requests.
	MaxRequests int64
	// Request builds requests.
	Request Request
	// Check judges responses; nil accepts any 2xx.
	Check Check
	// Progress, when set, is called about once a second with the count so far.
	Progress func(elapsed time.Duration, done int64)
}

// Result summarises a run.
type Result struct {
	Requests   int64         `json:"requests"`
	Errors     int64         `json:"errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	RPS        float64       `json:"requests_per_second"`
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	Statuses   map[int]int64 `json:"statuses"`
	FirstError string        `json:"first_error,omitempty"`
}

// maxSamples bounds the latency samples kept per worker.
const maxSamples = 1 << 22

// CheckLoopback fails unless target's host is a loopback address (or
// "localhost").
func CheckLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("loadgen: %q is not an absolute URL", target)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("loadgen: %s is not a loopback address; pass --allow-remote to load a remote server you operate", host)
	}
	return nil
}

// Run executes the load described by cfg.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Concurrency < 1 || cfg.Concurrency > 4096 {
		return Result{}, errors.New("loadgen: concurrency must be between 1 and 4096")
	}
	if cfg.Duration <= 0 || cfg.Duration > time.Hour {
		return Result{}, errors.New("loadgen: duration must be between 1ns and 1h")
	}
	if cfg.Request == nil {
		return Result{}, errors.New("loadgen: no request builder")
	}
	if !cfg.AllowRemote {
		if err := CheckLoopback(cfg.Target); err != nil {
			return Result{}, err
		}
	}
	check := cfg.Check
	if check == nil {
		check = func(status int, _ []byte) error {
			if status < 200 || status > 299 {
				return fmt.Errorf("status %d", status)
			}
			return nil
		}
	}
	transport := &http.Transport{
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		MaxConnsPerHost:     cfg.Concurrency,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var done, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	type workerResult struct {
		lat      []time.Duration
		statuses map[int]int64
	}
	results := make([]workerResult, cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			res := workerResult{statuses: map[int]int64{}}
			var buf bytes.Buffer
			for i := 0; ctx.Err() == nil; i++ {
				if cfg.MaxRequests > 0 && done.Load() >= cfg.MaxRequests {
					break
				}
				req, err := cfg.Request(ctx, w, i)
				if errors.Is(err, ErrDone) {
					break
				}
				if err != nil {
					recordErr(&firstErr, err)
					failed.Add(1)
					break
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						break // the run ended mid-request: not a server error
					}
					recordErr(&firstErr, err)
					failed.Add(1)
					done.Add(1)
					continue
				}
				buf.Reset()
				_, err = io.Copy(&buf, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				lat := time.Since(t0)
				if err == nil {
					err = check(resp.StatusCode, buf.Bytes())
				}
				if err != nil && ctx.Err() == nil {
					recordErr(&firstErr, err)
					failed.Add(1)
				}
				res.statuses[resp.StatusCode]++
				if len(res.lat) < maxSamples {
					res.lat = append(res.lat, lat)
				}
				done.Add(1)
			}
			results[w] = res
		}(w)
	}
	if cfg.Progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					cfg.Progress(time.Since(start), done.Load())
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := Result{Requests: done.Load(), Errors: failed.Load(), Elapsed: elapsed, Statuses: map[int]int64{}}
	var all []time.Duration
	for _, wr := range results {
		all = append(all, wr.lat...)
		for k, v := range wr.statuses {
			r.Statuses[k] += v
		}
	}
	if p := firstErr.Load(); p != nil {
		r.FirstError = *p
	}
	if elapsed > 0 {
		r.RPS = float64(r.Requests) / elapsed.Seconds()
	}
	if len(all) > 0 {
		slices.Sort(all)
		pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
		r.P50, r.P90, r.P99, r.Max = pct(0.50), pct(0.90), pct(0.99), all[len(all)-1]
	}
	return r, nil
}

func recordErr(p *atomic.Pointer[string], err error) {
	s := err.Error()
	p.CompareAndSwap(nil, &s)
}
