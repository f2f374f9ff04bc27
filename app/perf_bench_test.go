package app

// In-process benchmarks of the two hot paths, for CPU profiles:
//
//	go test -run '^$' -bench 'BenchmarkPath' -benchtime 20000x -cpuprofile cpu.out ./app/
//	go tool pprof -top -focus 'handleEvent' app.test cpu.out
//
// BenchmarkPathSteady posts single events paced at 2,000 a second and reports
// the CPU time per event, ingest and delivery together.
//
// BenchmarkPrepareEvent decodes and checks one event body, as each event
// of a batch is: the request path's CPU before the writer.
//
// BenchmarkPathIngest posts single events on 32 connections (one webhook
// matches each); BenchmarkPathDeliver posts b.N events in batches and times
// until the receiver has them all (claim, attempt, record).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/app/store"
)

func benchApp(b *testing.B) (url string, got *atomic.Int64) {
	return benchAppWith(b, nil)
}

// benchAppWith is benchApp with a look at each delivered body.
func benchAppWith(b *testing.B, arrived func(body []byte)) (url string, got *atomic.Int64) {
	b.Helper()
	got = &atomic.Int64{}
	rcv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if arrived != nil {
			arrived(body)
		}
		got.Add(1)
	})}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = rcv.Serve(rl) }()
	b.Cleanup(func() { _ = rcv.Close() })

	cfg := testConfig(b.TempDir())
	a, err := New(cfg, Options{Schema: testSchema(b), Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = a.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	url = "http://" + ln.Addr().String()
	benchPost(b, http.DefaultClient, url+"/api/v1/webhooks", []byte(`{"url":"http://`+rl.Addr().String()+`","events":["*"]}`))
	return url, got
}

func benchPost(b *testing.B, c *http.Client, url string, body []byte) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := c.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Errorf("POST %s: %d", url, resp.StatusCode)
	}
}

func benchEventJSON(id string, i int) string {
	return fmt.Sprintf(`{"id":%q,"event":"new_message","data":{"contact":{"id":"ct_%d","name":"Ada Lovelace","phone":"+15551234567","channel":"whatsapp"},"message":{"text":"Hi, I would like to book an appointment for next Tuesday afternoon if that works, thanks!","channel":"whatsapp"}}}`, id, i%1000)
}

func BenchmarkPathIngest(b *testing.B) {
	url, _ := benchApp(b)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				benchPost(b, c, url+"/api/v1/events", []byte(benchEventJSON(fmt.Sprintf("ing-%d", i), i)))
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkPathDeliver(b *testing.B) {
	url, got := benchApp(b)
	var batches [][]byte
	for k := 0; k < b.N; k += 500 {
		var buf bytes.Buffer
		buf.WriteString(`{"events":[`)
		for i := k; i < min(k+500, b.N); i++ {
			if i > k {
				buf.WriteByte(',')
			}
			buf.WriteString(benchEventJSON(fmt.Sprintf("dlv-%d", i), i))
		}
		buf.WriteString(`]}`)
		batches = append(batches, buf.Bytes())
	}
	b.ResetTimer()
	for _, body := range batches {
		benchPost(b, http.DefaultClient, url+"/api/v1/events/batch", body)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for got.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d delivered", got.Load(), b.N)
		}
		time.Sleep(2 * time.Millisecond) // poll the receiver while deliveries drain
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkPathSteady posts single events paced at 2,000 a second on 64
// connections, as make bench's latency run does, and reports the process's
// CPU time per event (ingest and delivery) once all have arrived.
func BenchmarkPathSteady(b *testing.B) {
	sent := make([]time.Time, b.N)
	took := make([]time.Duration, b.N)
	url, got := benchAppWith(b, func(body []byte) {
		var ev struct{ ID string }
		_ = json.Unmarshal(body, &ev)
		var i int
		if _, err := fmt.Sscanf(ev.ID, "std-%d", &i); err == nil && i < len(took) {
			took[i] = time.Since(sent[i])
		}
	})
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	jobs := make(chan int, b.N)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := range jobs {
				sent[i] = time.Now()
				benchPost(b, c, url+"/api/v1/events", []byte(benchEventJSON(fmt.Sprintf("std-%d", i), i)))
			}
		})
	}
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / 2000))) // pacing
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for got.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-us/event")
	if os.Getenv("BENCH_SLOW") != "" {
		hist := map[int]int{}
		for i, d := range took {
			if d > 10*time.Millisecond {
				hist[int(sent[i].Sub(start)/(100*time.Millisecond))]++
			}
		}
		fmt.Println("slow (>10ms) per 100ms window:", hist)
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[b.N/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[b.N*99/100].Microseconds())/1000, "p99-ms")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkPrepareEvent(b *testing.B) {
	ids := store.NewIDGen()
	body := []byte(`{"id":"b1-1","event":"new_message","data":{"contact":{"id":"ct_1","name":"Ada Lovelace","phone":"+15551234567","channel":"whatsapp"},` +
		`"message":{"text":"Hi, I would like to book an appointment for next Tuesday afternoon if that works, thanks!","channel":"whatsapp"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		var in EventInput
		if err := decodeStrict(body, &in); err != nil {
			b.Fatal(err)
		}
		if _, err := prepareEvent(&in, "", time.Now(), ids); err != nil {
			b.Fatal(err)
		}
	}
}
