package server

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
)

// secondsBuckets are the upper bounds of the seconds-per-image histogram.
var secondsBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// metrics are the counters behind GET /metrics. The gauges (queue depth,
// busy workers) are read from the server when the page is written.
type metrics struct {
	requests atomic.Int64 // generation requests received
	images   atomic.Int64 // images generated
	tokens   atomic.Int64 // image tokens generated

	mu      sync.Mutex
	errors  map[string]int64 // by kind
	buckets []int64          // per secondsBuckets, not cumulative; last is +Inf
	sum     float64
	count   int64
}

func newMetrics() *metrics {
	return &metrics{errors: map[string]int64{}, buckets: make([]int64, len(secondsBuckets)+1)}
}

func (m *metrics) countError(kind string) {
	if kind == "" {
		kind = "other"
	}
	m.mu.Lock()
	m.errors[kind]++
	m.mu.Unlock()
}

// observeImages records n images that took secs seconds in all.
func (m *metrics) observeImages(n int, secs float64) {
	if n <= 0 {
		return
	}
	per := secs / float64(n)
	i := sort.SearchFloat64s(secondsBuckets, per) // first bound ≥ per
	m.mu.Lock()
	m.buckets[i] += int64(n)
	m.sum += secs
	m.count += int64(n)
	m.mu.Unlock()
	m.images.Add(int64(n))
}

// gauges are the instantaneous values written with the counters.
type gauges struct {
	queueDepth, queueCap, busy, workers, stored, gallery int
}

// write writes the Prometheus text exposition format (version 0.0.4).
func (m *metrics) write(w io.Writer, g gauges) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	gauge := func(name, help string, v int) {
		p("# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter := func(name, help string, v int64) {
		p("# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge("tessella_queue_depth", "Jobs waiting for a worker.", g.queueDepth)
	gauge("tessella_queue_capacity", "Most jobs that may wait for a worker.", g.queueCap)
	gauge("tessella_workers_busy", "Workers running a generation.", g.busy)
	gauge("tessella_workers", "Workers in the pool.", g.workers)
	gauge("tessella_stored_images", "Images kept for response_format url.", g.stored)
	gauge("tessella_gallery_images", "Images in the web page's gallery.", g.gallery)
	counter("tessella_generation_requests_total", "Image generation requests received.", m.requests.Load())
	counter("tessella_images_generated_total", "Images generated.", m.images.Load())
	counter("tessella_image_tokens_generated_total", "Image tokens sampled.", m.tokens.Load())

	m.mu.Lock()
	defer m.mu.Unlock()
	p("# HELP tessella_errors_total Errors answered, by kind.\n# TYPE tessella_errors_total counter\n")
	kinds := make([]string, 0, len(m.errors))
	for k := range m.errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		p("tessella_errors_total{kind=%q} %d\n", k, m.errors[k])
	}
	const h = "tessella_image_seconds"
	p("# HELP %s Wall time per generated image (a request's generation time divided by its images).\n# TYPE %s histogram\n", h, h)
	var cum int64
	for i, b := range secondsBuckets {
		cum += m.buckets[i]
		p("%s_bucket{le=%q} %d\n", h, strconv.FormatFloat(b, 'g', -1, 64), cum)
	}
	cum += m.buckets[len(secondsBuckets)]
	p("%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", h, cum, h, strconv.FormatFloat(m.sum, 'g', -1, 64), h, m.count)
}
