package deliver

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
)

const smtpPassword = "s3cret-smtp-pa55"

func testMessage() Message {
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0, 1, 2, 255, '\r', '\n'}, 300)...)
	return Message{
		Kind:    KindReport,
		ID:      "report/daily/2026-12-06T08:00:00Z",
		Subject: "Daily holdings — Bestände 2026-12-06",
		Text:    "Holdings at block 870000: 1234567890 sat.\nLine two, über alles.\n",
		HTML:    "<p>Holdings at block <b>870000</b>: 1234567890 sat.</p>",
		JSON:    []byte(`{"kind":"report","sat":1234567890}`),
		Files: []File{
			{Name: "daily.csv", ContentType: "text/csv", Data: []byte("height,sat\n870000,1234567890\n")},
			{Name: "daily.pdf", ContentType: "application/pdf", Data: pdf},
		},
	}
}

// mailParts is what a mail client would show of a received e-mail.
type mailParts struct {
	header      mail.Header
	text, html  string
	attachments map[string][]byte
	types       map[string]string
}

// parseMail reads a received e-mail with net/mail and mime/multipart.
func parseMail(t *testing.T, raw []byte) mailParts {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	p := mailParts{header: msg.Header, attachments: map[string][]byte{}, types: map[string]string{}}
	var walk func(ct, cte, disp string, body io.Reader)
	walk = func(ct, cte, disp string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("content type %q: %v", ct, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				part, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("next part: %v", err)
				}
				walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"),
					part.Header.Get("Content-Disposition"), part)
			}
		}
		if strings.EqualFold(cte, "base64") {
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("read %s part: %v", mt, err)
		}
		if d, dp, err := mime.ParseMediaType(disp); err == nil && d == "attachment" {
			p.attachments[dp["filename"]] = data
			p.types[dp["filename"]] = mt
			return
		}
		switch mt {
		case "text/plain":
			p.text = string(data)
		case "text/html":
			p.html = string(data)
		default:
			t.Errorf("unexpected inline part %s", mt)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body)
	return p
}

func TestEmailDelivers(t *testing.T) {
	tests := []struct {
		name string
		srv  smtpOptions
		tls  string
	}{
		{"starttls with AUTH PLAIN", smtpOptions{User: "reports", Password: smtpPassword, StartTLS: true}, TLSStartTLS},
		{"implicit tls with AUTH PLAIN", smtpOptions{User: "reports", Password: smtpPassword, ImplicitTLS: true}, TLSImplicit},
		{"clear text to loopback relay", smtpOptions{}, TLSNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, tc.srv)
			e, err := NewEmail(EmailConfig{
				Host: srv.Host, Port: srv.Port, User: tc.srv.User, Password: tc.srv.Password,
				From: "Treasury Watch <reports@treasury.example>",
				To:   []string{"auditor@example.org", "Official <official@example.gov>"},
				TLS:  tc.tls, RootCAs: srv.Pool, Timeout: 10 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			m := testMessage()
			var attempts []Attempt
			if err := Deliver(t.Context(), e, m, Policy{Attempts: 1}, func(a Attempt) { attempts = append(attempts, a) }); err != nil {
				t.Fatalf("deliver: %v", err)
			}
			if len(attempts) != 1 || !attempts[0].Done || attempts[0].Target != "email" {
				t.Fatalf("attempts = %+v, want one done email attempt", attempts)
			}
			got := srv.received()
			if len(got) != 1 {
				t.Fatalf("server received %d mails, want 1", len(got))
			}
			rm := got[0]
			if wantTLS := tc.tls != TLSNone; rm.TLS != wantTLS {
				t.Errorf("received over TLS = %v, want %v", rm.TLS, wantTLS)
			}
			if rm.User != tc.srv.User {
				t.Errorf("authenticated user %q, want %q", rm.User, tc.srv.User)
			}
			if rm.From != "reports@treasury.example" || strings.Join(rm.To, ",") != "auditor@example.org,official@example.gov" {
				t.Errorf("envelope from %q to %q", rm.From, rm.To)
			}
			p := parseMail(t, rm.Data)
			from, err := p.header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != "reports@treasury.example" || from[0].Name != "Treasury Watch" {
				t.Errorf("From = %v (%v)", from, err)
			}
			to, err := p.header.AddressList("To")
			if err != nil || len(to) != 2 || to[0].Address != "auditor@example.org" || to[1].Address != "official@example.gov" {
				t.Errorf("To = %v (%v)", to, err)
			}
			subj, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
			if err != nil || subj != m.Subject {
				t.Errorf("Subject = %q (%v), want %q", subj, err, m.Subject)
			}
			if id := p.header.Get(HeaderMessageKey); id != m.ID {
				t.Errorf("%s = %q, want %q", HeaderMessageKey, id, m.ID)
			}
			if !strings.HasSuffix(p.header.Get("Message-Id"), "@treasury.example>") {
				t.Errorf("Message-Id = %q", p.header.Get("Message-Id"))
			}
			if norm(p.text) != norm(m.Text) {
				t.Errorf("text body = %q, want %q", p.text, m.Text)
			}
			if norm(p.html) != norm(m.HTML) {
				t.Errorf("html body = %q, want %q", p.html, m.HTML)
			}
			if len(p.attachments) != len(m.Files) {
				t.Errorf("%d attachments, want %d", len(p.attachments), len(m.Files))
			}
			for _, f := range m.Files {
				if !bytes.Equal(p.attachments[f.Name], f.Data) {
					t.Errorf("attachment %s: %d bytes differ from the %d sent", f.Name, len(p.attachments[f.Name]), len(f.Data))
				}
				if p.types[f.Name] != f.ContentType {
					t.Errorf("attachment %s type %q, want %q", f.Name, p.types[f.Name], f.ContentType)
				}
			}
		})
	}
}

// norm undoes the CRLF line endings SMTP requires.
func norm(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func TestEmailFailures(t *testing.T) {
	secure := startSMTP(t, smtpOptions{User: "reports", Password: smtpPassword, StartTLS: true})
	noTLS := startSMTP(t, smtpOptions{User: "reports", Password: smtpPassword})
	down := freePort(t)
	tests := []struct {
		name      string
		cfg       EmailConfig
		permanent bool
		want      []string // all appear in the error
	}{
		{"wrong password", EmailConfig{Host: secure.Host, Port: secure.Port, User: "reports", Password: "wrong-" + smtpPassword, RootCAs: secure.Pool},
			true, []string{"email via 127.0.0.1:", "535", "Authentication failed"}},
		{"server down", EmailConfig{Host: "127.0.0.1", Port: down, User: "reports", Password: smtpPassword},
			false, []string{"email via 127.0.0.1:", "connection refused"}},
		{"server without STARTTLS", EmailConfig{Host: noTLS.Host, Port: noTLS.Port, User: "reports", Password: smtpPassword},
			true, []string{"STARTTLS"}},
		{"untrusted certificate", EmailConfig{Host: secure.Host, Port: secure.Port, User: "reports", Password: smtpPassword},
			true, []string{"certificate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.From, cfg.To, cfg.Timeout = "reports@treasury.example", []string{"auditor@example.org"}, 5*time.Second
			e, err := NewEmail(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var attempts []Attempt
			err = Deliver(t.Context(), e, testMessage(), Policy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond},
				func(a Attempt) { attempts = append(attempts, a) })
			if err == nil {
				t.Fatal("delivered, want an error")
			}
			t.Logf("error: %v", err)
			if IsPermanent(err) != tc.permanent {
				t.Errorf("permanent = %v, want %v", IsPermanent(err), tc.permanent)
			}
			wantN := 2
			if tc.permanent {
				wantN = 1
			}
			if len(attempts) != wantN {
				t.Errorf("%d attempts, want %d", len(attempts), wantN)
			}
			for _, w := range append(tc.want, `deliver report "report/daily/2026-12-06T08:00:00Z" via email`) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			for _, a := range attempts {
				if strings.Contains(a.Err.Error(), smtpPassword) {
					t.Errorf("attempt error contains the password: %v", a.Err)
				}
			}
			if strings.Contains(err.Error(), smtpPassword) {
				t.Errorf("error contains the password: %v", err)
			}
			if n := len(secure.received()) + len(noTLS.received()); n != 0 {
				t.Errorf("servers received %d mails", n)
			}
		})
	}
}

func TestNewEmailRejects(t *testing.T) {
	ok := EmailConfig{Host: "smtp.example.org", User: "u", Password: smtpPassword, From: "a@example.org", To: []string{"b@example.org"}}
	tests := []struct {
		name   string
		change func(*EmailConfig)
		want   string
	}{
		{"clear text to a remote host", func(c *EmailConfig) { c.TLS = TLSNone }, `tls "none" sends the password and the reports in clear text; allowed only to a loopback host, not "smtp.example.org"`},
		{"unknown tls mode", func(c *EmailConfig) { c.TLS = "ssl" }, `tls "ssl" unknown`},
		{"no host", func(c *EmailConfig) { c.Host = "" }, `host "" must be`},
		{"host with port", func(c *EmailConfig) { c.Host = "smtp.example.org:25" }, `host "smtp.example.org:25" must be`},
		{"port out of range", func(c *EmailConfig) { c.Port = 70000 }, "port 70000 out of range"},
		{"bad from", func(c *EmailConfig) { c.From = "not an address" }, `from "not an address"`},
		{"no recipient", func(c *EmailConfig) { c.To = nil }, "no recipient"},
		{"bad recipient", func(c *EmailConfig) { c.To = []string{"b@example.org", "nobody"} }, `to[1] "nobody"`},
		{"password without user", func(c *EmailConfig) { c.User = "" }, "password set without user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			cfg.To = append([]string(nil), ok.To...)
			tc.change(&cfg)
			_, err := NewEmail(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "email config: ") {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), smtpPassword) {
				t.Errorf("error contains the password: %v", err)
			}
		})
	}
	for _, host := range []string{"127.0.0.1", "localhost", "::1", "127.0.0.2"} {
		cfg := ok
		cfg.Host, cfg.TLS = host, TLSNone
		if _, err := NewEmail(cfg); err != nil {
			t.Errorf("clear text to loopback %s refused: %v", host, err)
		}
	}
	if _, err := NewEmail(ok); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestEmailRejectsEmptyBody(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	e, err := NewEmail(EmailConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, From: "a@example.org", To: []string{"b@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Send(t.Context(), Message{Kind: KindAlert, ID: "alert/1", Subject: "x"})
	if !IsPermanent(err) || !strings.Contains(err.Error(), `message "alert/1": no text or HTML body`) {
		t.Errorf("err = %v, want a permanent error about the missing body", err)
	}
	if len(srv.received()) != 0 {
		t.Error("server received a mail")
	}
	var de *Error
	if !errors.As(err, &de) {
		t.Error("not a *deliver.Error")
	}
}
