package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// handleHealthz answers GET /healthz: the process is up. It reads nothing,
// so a slow disk never gets a healthy process restarted.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// readyJSON is /readyz's answer.
type readyJSON struct {
	Ready         bool          `json:"ready"`
	Reason        string        `json:"reason"`
	AsOf          *watcher.AsOf `json:"as_of"`
	LastSuccessAt *time.Time    `json:"last_success_at"`
}

// handleReadyz answers GET /readyz: 200 when the store is readable and
// the last successful sync is more recent than StaleAfter, 503 otherwise,
// so a load balancer stops sending readers to a replica whose figures
// have fallen behind.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	out := readyJSON{Ready: true}
	b, syncedAt, _, ok, err := s.st.SyncState(r.Context())
	switch {
	case err != nil:
		s.logger.Warn("readyz: store not readable", "err", err)
		out.Ready, out.Reason = false, "store not readable"
	case !ok:
		out.Ready, out.Reason = false, "no completed sync yet"
	default:
		out.AsOf = &watcher.AsOf{Height: b.Height, Hash: b.Hash.String(), Time: b.Time}
		out.LastSuccessAt = &syncedAt
		if age := s.now().Sub(syncedAt); age > s.cfg.StaleAfter {
			out.Ready, out.Reason = false, "last successful sync is "+age.Round(time.Second).String()+" old (limit "+
				s.cfg.StaleAfter.String()+")"
		}
	}
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !out.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Write(append(body, '\n'))
}
