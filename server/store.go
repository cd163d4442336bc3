package server

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// storedImage is one encoded image kept in memory.
type storedImage struct {
	ID          string
	Data        []byte
	ContentType string
	Expires     time.Time // zero: never (gallery)
}

// fileStore keeps the images made with response_format "url" until they
// expire. All entries live equally long, so insertion order is expiry order.
type fileStore struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	byID  map[string]*storedImage
	order []string // oldest first
}

func newFileStore(ttl time.Duration, max int) *fileStore {
	return &fileStore{ttl: ttl, max: max, byID: map[string]*storedImage{}}
}

// newID returns 128 random bits in hex: image URLs are capabilities.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// put stores data and returns its id.
func (f *fileStore) put(data []byte, contentType string, now time.Time) string {
	id := newID()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byID[id] = &storedImage{ID: id, Data: data, ContentType: contentType, Expires: now.Add(f.ttl)}
	f.order = append(f.order, id)
	for len(f.order) > f.max {
		delete(f.byID, f.order[0])
		f.order = f.order[1:]
	}
	return id
}

// get returns the image id if it has not expired.
func (f *fileStore) get(id string, now time.Time) (*storedImage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	im, ok := f.byID[id]
	if !ok || !now.Before(im.Expires) {
		return nil, false
	}
	return im, true
}

// expire removes the images whose time is up and returns how many remain.
func (f *fileStore) expire(now time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for n < len(f.order) {
		im := f.byID[f.order[n]]
		if im != nil && now.Before(im.Expires) {
			break
		}
		delete(f.byID, f.order[n])
		n++
	}
	f.order = append(f.order[:0:0], f.order[n:]...)
	return len(f.order)
}

func (f *fileStore) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byID)
}

// galleryEntry is one result shown on the web page.
type galleryEntry struct {
	ID       string            `json:"id"`
	URL      string            `json:"url"`
	Created  int64             `json:"created"`
	Prompt   string            `json:"prompt"`
	Model    string            `json:"model"`
	Size     string            `json:"size"`
	Format   string            `json:"output_format"`
	Seed     uint64            `json:"seed"`
	Settings map[string]string `json:"settings"`
	Seconds  float64           `json:"seconds"`

	data        []byte
	contentType string
}

// gallery keeps the last max results since the server started.
type gallery struct {
	mu      sync.Mutex
	max     int
	entries []*galleryEntry // oldest first
}

func (g *gallery) add(e *galleryEntry) {
	if g.max <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.entries = append(g.entries, e)
	if len(g.entries) > g.max {
		g.entries = append(g.entries[:0:0], g.entries[len(g.entries)-g.max:]...)
	}
}

// list returns the entries newest first.
func (g *gallery) list() []*galleryEntry {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*galleryEntry, len(g.entries))
	for i, e := range g.entries {
		out[len(out)-1-i] = e
	}
	return out
}

func (g *gallery) get(id string) (*galleryEntry, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.entries {
		if e.ID == id {
			return e, true
		}
	}
	return nil, false
}

func (g *gallery) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.entries)
}
