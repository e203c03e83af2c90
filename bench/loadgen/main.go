// Command loadgen drives one HTTP/1.1 endpoint at a fixed arrival rate (open loop).
//
// Requests are scheduled at start + i/rate whatever the server does; a scheduled request
// waits for a free keep-alive connection if none is idle, and its latency counts from its
// scheduled time, so a slow server cannot slow the generator down and hide its own queueing.
// Requests are read pre-built (headers and body) from a file of length-prefixed records and
// sent in turn. Loopback only; bounded by -duration and -drain. Prints one JSON object.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

type job struct {
	due time.Duration // scheduled send time, from the step's start
	req int
}

type sample struct {
	latency time.Duration
	done    time.Duration // completion time, from the step's start
	status  int
}

type result struct {
	Offered     int            `json:"offered"`
	Rate        float64        `json:"rate"`
	DurationS   float64        `json:"duration_s"`
	OK          int            `json:"ok"`
	Statuses    map[string]int `json:"statuses"`
	Errors      int            `json:"errors"`
	Unfinished  int            `json:"unfinished"`
	SpanS       float64        `json:"span_s"`
	AcceptedPS  float64        `json:"accepted_per_s"`
	P50Ms       float64        `json:"p50_ms"`
	P90Ms       float64        `json:"p90_ms"`
	P99Ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	CPUSeconds  float64        `json:"loadgen_cpu_s"`
	FirstError  string         `json:"first_error,omitempty"`
	Connections int            `json:"connections"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "host:port (loopback)")
	reqFile := flag.String("requests", "", "file of 4-byte big-endian length + raw request")
	rate := flag.Float64("rate", 1000, "arrivals per second")
	duration := flag.Duration("duration", 5*time.Second, "how long to keep arriving")
	conns := flag.Int("conns", 256, "keep-alive connections")
	drain := flag.Duration("drain", 10*time.Second, "how long to wait for answers after the last arrival")
	source := flag.String("source", "", "loopback address to send from (default: the kernel's choice)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fail("refusing non-loopback address %q", *addr)
	}
	var dialer net.Dialer
	dialer.Timeout = 5 * time.Second
	if *source != "" {
		ip := net.ParseIP(*source)
		if ip == nil || !ip.IsLoopback() {
			fail("refusing non-loopback source %q", *source)
		}
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	reqs, err := readRequests(*reqFile)
	if err != nil {
		fail("%v", err)
	}
	total := int(*rate * duration.Seconds())
	if total < 1 || total > 2_000_000 {
		fail("rate x duration must give between 1 and 2,000,000 requests")
	}

	jobs := make(chan job, total)
	samples := make([][]sample, *conns)
	firstErr := make([]error, *conns)
	var wg sync.WaitGroup
	start := time.Now().Add(200 * time.Millisecond) // connections dial before the first arrival
	deadline := start.Add(*duration + *drain)
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			samples[w], firstErr[w] = worker(&dialer, *addr, reqs, jobs, start, deadline, total / *conns + 16)
		}(w)
	}

	interval := time.Duration(float64(time.Second) / *rate)
	for i := 0; i < total; {
		now := time.Since(start)
		for ; i < total && time.Duration(i)*interval <= now; i++ {
			jobs <- job{due: time.Duration(i) * interval, req: i % len(reqs)}
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(jobs)
	wg.Wait()

	report(samples, firstErr, total, *rate, *duration, *conns)
}

// worker sends jobs over one keep-alive connection, redialling after a failure.
func worker(dialer *net.Dialer, addr string, reqs [][]byte, jobs <-chan job, start, deadline time.Time, hint int) ([]sample, error) {
	out := make([]sample, 0, hint)
	var first error
	var conn net.Conn
	var rd *bufio.Reader
	dial := func() error {
		c, err := dialer.Dial("tcp", addr)
		if err != nil {
			return err
		}
		c.(*net.TCPConn).SetNoDelay(true)
		conn, rd = c, bufio.NewReaderSize(c, 16<<10)
		return nil
	}
	if err := dial(); err != nil {
		first = err
	}
	for j := range jobs {
		if time.Now().After(deadline) {
			continue // left unfinished; counted from the totals
		}
		if conn == nil {
			if err := dial(); err != nil {
				out = append(out, sample{status: -1})
				first = keep(first, err)
				continue
			}
		}
		conn.SetDeadline(deadline)
		status, closeAfter, err := exchange(conn, rd, reqs[j.req])
		doneAt := time.Since(start)
		if err != nil {
			out = append(out, sample{status: -1})
			first = keep(first, err)
			conn.Close()
			conn = nil
			continue
		}
		out = append(out, sample{latency: doneAt - j.due, done: doneAt, status: status})
		if closeAfter {
			conn.Close()
			conn = nil
		}
	}
	if conn != nil {
		conn.Close()
	}
	return out, first
}

func keep(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// exchange writes one request and reads its response: status line, headers, sized body.
func exchange(conn net.Conn, rd *bufio.Reader, req []byte) (int, bool, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, err
	}
	length, closeAfter := -1, false
	for {
		h, err := rd.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(h) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			length, err = strconv.Atoi(string(value))
			if err != nil {
				return 0, false, err
			}
		case bytes.EqualFold(name, []byte("connection")):
			closeAfter = bytes.EqualFold(value, []byte("close"))
		}
	}
	if length < 0 {
		return 0, false, errors.New("response without content-length")
	}
	if _, err := rd.Discard(length); err != nil {
		return 0, false, err
	}
	return status, closeAfter, nil
}

func readRequests(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reqs [][]byte
	for len(data) >= 4 {
		n := int(binary.BigEndian.Uint32(data))
		if 4+n > len(data) {
			return nil, io.ErrUnexpectedEOF
		}
		reqs = append(reqs, data[4:4+n])
		data = data[4+n:]
	}
	if len(reqs) == 0 {
		return nil, errors.New("no requests in " + path)
	}
	return reqs, nil
}

func report(all [][]sample, errs []error, total int, rate float64, duration time.Duration, conns int) {
	res := result{Offered: total, Rate: rate, DurationS: duration.Seconds(), Statuses: map[string]int{}, Connections: conns}
	var ok []time.Duration
	var lastOK time.Duration
	answered := 0
	for _, samples := range all {
		for _, s := range samples {
			answered++
			if s.status < 0 {
				res.Errors++
				continue
			}
			res.Statuses[strconv.Itoa(s.status)]++
			if s.status == 200 {
				ok = append(ok, s.latency)
				lastOK = max(lastOK, s.done)
			}
		}
	}
	for _, err := range errs {
		if err != nil {
			res.FirstError = err.Error()
			break
		}
	}
	res.Unfinished = total - answered
	res.OK = len(ok)
	if len(ok) > 0 {
		slices.Sort(ok)
		pct := func(p float64) float64 {
			return float64(ok[min(len(ok)-1, int(p*float64(len(ok))))].Microseconds()) / 1000
		}
		res.P50Ms, res.P90Ms, res.P99Ms = pct(0.50), pct(0.90), pct(0.99)
		res.MaxMs = float64(ok[len(ok)-1].Microseconds()) / 1000
		// Accepted rate: answers over the time they took to arrive, at least the schedule.
		res.SpanS = max(lastOK, duration).Seconds()
		res.AcceptedPS = float64(len(ok)) / res.SpanS
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.CPUSeconds = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(res)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(2)
}
