package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// receivers are the loopback webhook and SMTP servers a report is
// delivered to, keeping every byte they were sent (headers included), so
// that what leaves the process can be checked for secrets too.
type receivers struct {
	webhookURL string
	smtpPort   int

	mu   sync.Mutex
	seen []capture
}

func (r *receivers) add(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, capture{name, data})
}

func (r *receivers) captured() []capture {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]capture(nil), r.seen...)
}

// startReceivers starts a webhook receiver and a real SMTP server (AUTH
// PLAIN as user with password, on loopback) until tb ends.
func startReceivers(tb testing.TB, user, password string) *receivers {
	tb.Helper()
	r := &receivers{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var buf bytes.Buffer
		req.Header.Write(&buf)
		io.Copy(&buf, req.Body)
		r.add("webhook request "+req.URL.Path, buf.Bytes())
	}))
	tb.Cleanup(hook.Close)
	r.webhookURL = hook.URL + "/hook"

	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &leakSMTPSession{r: r, user: user, password: password}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback only
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r.smtpPort = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	tb.Cleanup(func() {
		srv.Close()
		l.Close()
		<-done
	})
	return r
}

// leakSMTPSession accepts mail from the configured user only.
type leakSMTPSession struct {
	r              *receivers
	user, password string
	authed         bool
}

func (s *leakSMTPSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *leakSMTPSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.user || password != s.password {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *leakSMTPSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *leakSMTPSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *leakSMTPSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.add("e-mail message", b)
	return nil
}

func (s *leakSMTPSession) Reset()        {}
func (s *leakSMTPSession) Logout() error { return nil }

// reportsTOML is the [[reports]] entry and its delivery settings for the
// secrets watchlist: every channel, each with its secret.
func (r *receivers) reportsTOML() string {
	return `[[reports]]
name = "daily"
schedule = "0 8 * * *"
deliver = ["dir", "webhook", "email"]
[report_delivery]
dir = "reports"
webhook_url = "` + r.webhookURL + `"
webhook_secret_env = "TW_SECRET_WEBHOOK"
email_to = ["desk@example.org"]
[smtp]
host = "127.0.0.1"
port = ` + strconv.Itoa(r.smtpPort) + `
user = "mailer"
password_env = "TW_SECRET_SMTP_PASS"
from = "treasurywatch@example.org"
tls = "none"
`
}

// dirCaptures returns every file under dir.
func dirCaptures(tb testing.TB, dir string) []capture {
	tb.Helper()
	var out []capture
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out = append(out, capture{"delivered file " + filepath.Base(path), b})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
