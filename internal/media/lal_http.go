package media

import (
	"net/http"
	"strconv"
)

// flvFlushEvery bounds the tags written between two flushes of an FLV response.
const flvFlushEvery = 64

// ServeFLV implements Engine.
func (e *lalEngine) ServeFLV(w http.ResponseWriter, r *http.Request, room int64) bool {
	st := e.stream(room)
	if st == nil {
		return false
	}
	v, first, ok := st.join()
	if !ok {
		return false
	}
	defer st.leave(v)
	gauge := e.m.viewers.WithLabelValues("flv")
	gauge.Inc()
	defer gauge.Dec()
	out := e.m.out.WithLabelValues("flv")

	h := w.Header()
	h.Set("Content-Type", "video/x-flv")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return true
	}
	// Each write is bounded by the gateway (gateway.write_timeout per write on /live/).
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		n, err := w.Write(b)
		out.Add(float64(n))
		return err == nil
	}
	for _, b := range first {
		if !write(b) {
			return true
		}
	}
	if rc.Flush() != nil {
		return true
	}
	for {
		select {
		case <-r.Context().Done():
			return true
		case <-v.gone:
			// Dropped or the stream ended: write what is queued, then end the response.
			for {
				select {
				case b := <-v.ch:
					if !write(b) {
						return true
					}
				default:
					_ = rc.Flush()
					return true
				}
			}
		case b := <-v.ch:
			if !write(b) {
				return true
			}
		more: // what else is queued, then one flush
			for i := 0; i < flvFlushEvery; i++ {
				select {
				case b := <-v.ch:
					if !write(b) {
						return true
					}
				default:
					break more
				}
			}
			if rc.Flush() != nil {
				return true
			}
		}
	}
}

// ServeHLS implements Engine.
func (e *lalEngine) ServeHLS(w http.ResponseWriter, r *http.Request, room int64, segment int64) bool {
	st := e.stream(room)
	if st == nil {
		return false
	}
	h := w.Header()
	var body []byte
	if segment < 0 {
		pl := st.hls.playlist(room)
		if pl == "" {
			return false
		}
		st.sawHLS(r)
		body = []byte(pl)
		h.Set("Content-Type", "application/vnd.apple.mpegurl")
		h.Set("Cache-Control", "no-cache")
	} else {
		if body = st.hls.segment(segment); body == nil {
			return false
		}
		h.Set("Content-Type", "video/mp2t")
		h.Set("Cache-Control", "max-age=60") // a segment never changes
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		n, _ := w.Write(body)
		e.m.out.WithLabelValues("hls").Add(float64(n))
	}
	return true
}
