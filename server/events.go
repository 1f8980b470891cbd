package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

// Defaults of a Hub.
const (
	// DefaultEventBuffer is how many recent events a Hub keeps for
	// clients that resume.
	DefaultEventBuffer = 1024
	// SubscriberBuffer is how many events may wait for a slow
	// subscriber before it is disconnected.
	SubscriberBuffer = 256
)

// Hub keeps the recent events of a core and hands them to the event
// streams. Give its Publish to the core as core.Config.OnEvent. Its
// methods are safe for concurrent use.
type Hub struct {
	boot   string // names this hub in event IDs: an ID of another one is unknown
	subBuf int

	mu        sync.Mutex
	seq       uint64     // of the last event
	ring      []hubEvent // the recent events, oldest at ring[start]
	start     int
	subs      map[*subscriber]struct{}
	observers []func(core.Event)
	published uint64
	dropped   uint64
}

// hubEvent is an event ready to send.
type hubEvent struct {
	seq  uint64
	id   string
	typ  string
	data []byte
}

// subscriber is an open event stream.
type subscriber struct {
	ch      chan hubEvent
	dropped chan struct{} // closed when it fell behind and was dropped
}

// NewHub returns a hub that keeps the last size events (0:
// DefaultEventBuffer).
func NewHub(size int) *Hub {
	if size <= 0 {
		size = DefaultEventBuffer
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Hub{
		boot:   hex.EncodeToString(b[:]),
		subBuf: SubscriberBuffer,
		ring:   make([]hubEvent, 0, size),
		subs:   map[*subscriber]struct{}{},
	}
}

// Publish records e and sends it to every stream; a stream whose buffer
// is full is dropped. It never blocks on a stream.
func (h *Hub) Publish(e core.Event) {
	ev := api.Event{Type: api.EventType(e.Type), Time: e.Time}
	if e.Job != nil {
		j := apiJob(*e.Job)
		ev.Job = &j
	}
	if e.Snapshot != nil {
		sn := apiSnapshot(*e.Snapshot)
		ev.Snapshot = &sn
	}
	if e.GC != nil {
		run := apiGCRun(*e.GC)
		ev.Gc = &run
	}
	data, err := json.Marshal(ev)
	if err != nil {
		panic("server: marshal event: " + err.Error()) // every api.Event marshals
	}
	h.mu.Lock()
	h.seq++
	he := hubEvent{seq: h.seq, id: h.boot + "-" + strconv.FormatUint(h.seq, 10), typ: string(e.Type), data: data}
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, he)
	} else {
		h.ring[h.start] = he
		h.start = (h.start + 1) % len(h.ring)
	}
	h.published++
	for sub := range h.subs {
		select {
		case sub.ch <- he:
		default:
			close(sub.dropped)
			delete(h.subs, sub)
			h.dropped++
		}
	}
	observers := h.observers
	h.mu.Unlock()
	for _, o := range observers {
		o(e)
	}
}

// observe calls fn with every event published from now on.
func (h *Hub) observe(fn func(core.Event)) {
	h.mu.Lock()
	h.observers = append(h.observers[:len(h.observers):len(h.observers)], fn)
	h.mu.Unlock()
}

// subscribe opens a stream. replay is what a client that last saw
// lastEventID missed: the events after it while it is still in the
// buffer, else (an unknown or too old ID) the whole buffer; nothing when
// lastEventID is empty.
func (h *Hub) subscribe(lastEventID string) (replay []hubEvent, sub *subscriber) {
	sub = &subscriber{ch: make(chan hubEvent, h.subBuf), dropped: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[sub] = struct{}{}
	if lastEventID == "" {
		return nil, sub
	}
	oldest := h.seq + 1 // of the buffer's oldest event
	if len(h.ring) > 0 {
		oldest = h.ring[h.start].seq
	}
	after := oldest - 1 // unknown: the whole buffer
	if boot, s, ok := strings.Cut(lastEventID, "-"); ok && boot == h.boot {
		if seq, err := strconv.ParseUint(s, 10, 64); err == nil && seq <= h.seq && seq+1 >= oldest {
			after = seq
		}
	}
	for i := range h.ring {
		if e := h.ring[(h.start+i)%len(h.ring)]; e.seq > after {
			replay = append(replay, e)
		}
	}
	return replay, sub
}

// unsubscribe closes a stream.
func (h *Hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	delete(h.subs, sub)
	h.mu.Unlock()
}

// stats returns the events published and the subscribers dropped so far.
func (h *Hub) stats() (published, dropped uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.published, h.dropped
}

func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	release, ok := s.openStream(w, r, "events")
	if !ok {
		return
	}
	defer release()
	ctx, cancel := s.context(r)
	defer cancel()
	replay, sub := s.events.subscribe(r.Header.Get("Last-Event-ID"))
	defer s.events.unsubscribe(sub)

	w.Header().Set("Content-Type", api.MediaSSE)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := s.streamWriter(w)
	if sw.write([]byte(": berth events\n\n")) != nil {
		return
	}
	for _, e := range replay {
		if sw.write(sse(e)) != nil {
			return
		}
	}
	beat := time.NewTicker(s.opts.Heartbeat)
	defer beat.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-sub.dropped:
			s.log.Info("event stream fell behind: disconnected (it may resume with Last-Event-ID)")
			return
		case e := <-sub.ch:
			err = sw.write(sse(e))
		case <-beat.C:
			err = sw.write([]byte(": heartbeat\n\n"))
		}
		if err != nil {
			return
		}
	}
}

// sse is e in the Server-Sent Events format (its JSON data is one line).
func sse(e hubEvent) []byte {
	b := make([]byte, 0, len(e.data)+len(e.id)+len(e.typ)+24)
	b = append(b, "id: "...)
	b = append(b, e.id...)
	b = append(b, "\nevent: "...)
	b = append(b, e.typ...)
	b = append(b, "\ndata: "...)
	b = append(b, e.data...)
	return append(b, "\n\n"...)
}
