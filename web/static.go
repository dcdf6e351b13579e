package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
)

// assets holds the templates and the static files: the binary serves the
// whole site with nothing on disk and nothing from another host.
//
//go:embed templates/*.html static/*
var assets embed.FS

// staticFile is one file of /static, read once at start.
type staticFile struct {
	body  []byte
	ctype string
	etag  string
}

// loadStatic reads every static file and computes its content ETag.
func loadStatic() (map[string]staticFile, error) {
	entries, err := fs.ReadDir(assets, "static")
	if err != nil {
		return nil, err
	}
	out := map[string]staticFile{}
	for _, e := range entries {
		body, err := assets.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		if path.Ext(e.Name()) == ".ico" { // not in every system's MIME table
			ctype = "image/vnd.microsoft.icon"
		}
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[e.Name()] = staticFile{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return out, nil
}

// handleStatic serves /static/{file}: only the embedded files, never a
// directory listing.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	s.serveStatic(w, r, r.PathValue("file"))
}

// handleFavicon serves /favicon.ico, which browsers and feed readers ask
// for on their own, whatever the pages link.
func (s *Server) handleFavicon(w http.ResponseWriter, r *http.Request) {
	s.serveStatic(w, r, "favicon.ico")
}

// serveStatic answers one embedded file with its content ETag.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := s.static[name]
	if !ok {
		s.pageError(w, r, &httpError{http.StatusNotFound, "There is no such file."})
		return
	}
	h := w.Header()
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "public, max-age=3600")
	if etagMatch(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.ctype)
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.Write(f.body)
}
