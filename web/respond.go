package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// Bounds of the render cache: past either, it starts over. Keys include
// the query string a client chooses, so the cache must not grow without
// limit.
const (
	cacheMaxEntries = 1024
	cacheMaxBytes   = 64 << 20
	cacheMaxBody    = 8 << 20
)

// maxAttempts bounds how often an answer is started again because a sync
// published meanwhile; syncs are minutes apart, so one retry is the most
// a reader normally sees.
const maxAttempts = 5

// rendered is a finished 200 answer, kept for the snapshot's lifetime.
type rendered struct {
	ctype  string
	body   []byte
	header [][2]string
}

// answerKind says how errors are shown: an HTML page or JSON.
type answerKind int

const (
	asPage answerKind = iota
	asData
)

// view is what a render function may look at: one snapshot, and for
// volatile answers (those showing staleness or "change over 24 h") the
// clock, truncated to the minute so that the answer is the same bytes for
// everyone within that minute.
type view struct {
	snap      *snapshot
	now       time.Time
	status    SyncStatus
	hasStatus bool
}

// renderFunc builds an answer from a view; an *httpError becomes a 4xx.
type renderFunc func(ctx context.Context, v *view) (*rendered, error)

// serve answers from the render cache or by rendering, with an ETag that
// changes with the published sync (and, for volatile answers, with the
// minute and the reported sync status), and 304 for a matching
// If-None-Match. An answer is always rendered from one snapshot; when a
// sync publishes meanwhile, it is rendered again from the new one.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, kind answerKind, volatile bool, render renderFunc) {
	if len(r.URL.RawQuery) > 1024 {
		s.fail(w, r, kind, badRequest("query string too long"))
		return
	}
	ctx := r.Context()
	for attempt := 0; ; attempt++ {
		snap, err := s.current(ctx)
		if errors.Is(err, errMoved) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			s.fail(w, r, kind, err)
			return
		}
		v := &view{snap: snap}
		key := snap.tag + "|" + r.URL.Path + "?" + r.URL.Query().Encode()
		if volatile {
			var seq uint64
			v.status, v.hasStatus, seq = s.syncStatus()
			minute := s.now().Unix() / 60
			v.now = time.Unix(minute*60, 0).UTC()
			key += "|" + strconv.FormatUint(seq, 10) + "|" + strconv.FormatInt(minute, 10)
		}
		sum := sha256.Sum256([]byte(key))
		etag := `"` + strconv.FormatInt(snap.gen, 10) + "-" + hex.EncodeToString(sum[:10]) + `"`
		h := w.Header()
		h.Set("X-As-Of-Height", strconv.FormatInt(snap.asOf.Height, 10))
		h.Set("X-As-Of-Hash", snap.asOf.Hash)
		h.Set("X-As-Of-Time", snap.asOf.Time.UTC().Format(time.RFC3339))
		h.Set("Cache-Control", "no-cache")
		if etagMatch(r.Header.Get("If-None-Match"), etag) {
			h.Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		s.mu.Lock()
		res := s.cache[key]
		s.mu.Unlock()
		if res == nil {
			res, err = render(ctx, v)
			if errors.Is(err, errMoved) && attempt < maxAttempts {
				s.forget(snap)
				continue
			}
			if err != nil {
				s.fail(w, r, kind, err)
				return
			}
			s.remember(snap, key, res)
		}
		for _, kv := range res.header {
			h.Set(kv[0], kv[1])
		}
		h.Set("Content-Type", res.ctype)
		h.Set("Content-Length", strconv.Itoa(len(res.body)))
		h.Set("ETag", etag)
		w.Write(res.body)
		return
	}
}

// remember caches an answer if its snapshot is still the current one.
func (s *Server) remember(snap *snapshot, key string, res *rendered) {
	if len(res.body) > cacheMaxBody {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap != snap {
		return
	}
	if len(s.cache) >= cacheMaxEntries || s.cacheBytes+len(res.body) > cacheMaxBytes {
		s.clearCacheLocked()
	}
	s.cache[key] = res
	s.cacheBytes += len(res.body)
}

// clearCacheLocked empties the render cache; s.mu is held.
func (s *Server) clearCacheLocked() {
	clear(s.cache)
	s.cacheBytes = 0
}

// etagMatch implements If-None-Match's weak comparison. "*" is not
// honoured: it would turn a 404 into a 304.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == etag {
			return true
		}
	}
	return false
}

// fail answers an error: 4xx with its message, 503 before the first
// sync, 500 (logged, never detailed) otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, kind answerKind, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
	case errors.Is(err, errMoved):
		he = &httpError{http.StatusServiceUnavailable, "The ledger was being updated during the request; please retry."}
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, watcher.ErrNotSynced):
		he = &httpError{http.StatusServiceUnavailable, "No completed sync yet: the ledger has no block to state figures at."}
		w.Header().Set("Retry-After", "60")
	case errors.Is(err, watcher.ErrUnknown):
		he = &httpError{http.StatusNotFound, "Not in the watchlist."}
	case errors.Is(err, context.Canceled):
		return // the client went away
	default:
		s.logger.Error("web: request failed", "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusInternalServerError, "Internal error; it has been logged."}
	}
	if kind == asPage {
		s.pageError(w, r, he)
		return
	}
	writeJSONError(w, he.status, he.msg)
}

// writeJSONError writes {"error": msg}.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// jsonAnswer encodes v as an indented JSON answer.
func jsonAnswer(v any) (*rendered, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	// Names stay readable ("A & B"); the answer is served as JSON with
	// nosniff, never as HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return &rendered{ctype: "application/json; charset=utf-8", body: buf.Bytes()}, nil
}
