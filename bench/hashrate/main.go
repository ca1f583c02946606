// Command hashrate measures what the configured password hash cost allows
// on this machine: how many password hashes per second all cores together
// can compute (one worker per core, as the server runs at most one hash per
// core at a time), and how long a single hash takes on an idle machine.
// The load harness divides the server's logins per second by the first
// figure.
//
// Output is one line of key=value pairs:
//
//	scheme=argon2 workers=2 hashes_per_sec=12.3 single_ms=120.4
package main

import (
	"flag"
	"fmt"
	"log"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func main() {
	scheme := flag.String("scheme", "argon2", "argon2 or bcrypt")
	memory := flag.Uint("m", 65536, "argon2id memory in KiB")
	iterations := flag.Uint("t", 3, "argon2id iterations")
	threads := flag.Uint("p", 4, "argon2id parallelism")
	cost := flag.Int("cost", 12, "bcrypt cost")
	workers := flag.Int("workers", runtime.NumCPU(), "hashes computed at once")
	duration := flag.Duration("d", 5*time.Second, "how long to measure the throughput")
	flag.Parse()

	salt := []byte("0123456789abcdef")
	password := []byte("BenchPassw0rd!")
	var hash func()
	switch *scheme {
	case "argon2":
		hash = func() { argon2.IDKey(password, salt, uint32(*iterations), uint32(*memory), uint8(*threads), 32) }
	case "bcrypt":
		stored, err := bcrypt.GenerateFromPassword(password, *cost)
		if err != nil {
			log.Fatal(err)
		}
		hash = func() { bcrypt.CompareHashAndPassword(stored, password) }
	default:
		log.Fatalf("unknown scheme %q", *scheme)
	}

	// One hash at a time, three times: the latency of a lone login.
	hash() // warm up
	start := time.Now()
	for range 3 {
		hash()
	}
	single := time.Since(start) / 3

	// All workers at once for the duration: the throughput.
	var done atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(*duration)
	start = time.Now()
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				hash()
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("scheme=%s workers=%d hashes=%d hashes_per_sec=%.2f single_ms=%.1f\n",
		*scheme, *workers, done.Load(), float64(done.Load())/elapsed.Seconds(), float64(single.Microseconds())/1000)
}
