package alert_test

import (
	"io"
	"log"
	"mime/quotedprintable"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/treasurywatch/treasurywatch/alert"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// mailbox is a real SMTP server (github.com/emersion/go-smtp) on loopback
// keeping every message it accepts.
type mailbox struct {
	addr  *net.TCPAddr
	mu    sync.Mutex
	mails []string
}

func (m *mailbox) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.mails...)
}

func startMailbox(tb testing.TB) *mailbox {
	tb.Helper()
	mb := &mailbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	mb.addr = l.Addr().(*net.TCPAddr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(l)
	}()
	tb.Cleanup(func() {
		s.Close()
		l.Close()
		<-done
	})
	return mb
}

type mailSession struct{ mb *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	// The body is quoted-printable; soft line breaks would split a txid.
	b, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.mails = append(s.mb.mails, string(b))
	s.mb.mu.Unlock()
	return nil
}

// TestAlertByEmail: a rule delivering to e-mail and webhook sends one mail
// (subject and body with the figures) and one POST, and neither again
// after a restart.
func TestAlertByEmail(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	rules := strings.Join([]string{
		`email_to = ["desk@newsroom.example"]`,
		`[smtp]`,
		`host = "127.0.0.1"`,
		`port = ` + strconv.Itoa(mb.addr.Port),
		`from = "treasurywatch@newsroom.example"`,
		`tls = "none"`,
		`[[alerts]]`,
		`deliver = ["email", "webhook"]`,
		``}, "\n")
	e := newEnv(t, rules)
	a := e.alerter()
	e.syncCheck(a)
	pay := e.n.Pay(chaintest.Output{Script: e.key.Script, Value: 12_345_678})
	block := e.n.Mine()
	if sum := e.syncCheck(a); sum != (alert.Summary{Sent: 1}) {
		t.Errorf("check: %+v", sum)
	}
	e.wantPosts(1, "alert")
	mails := mb.received()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	subject := "Subject: [treasurywatch] El Salvador: inflow " + watcher.FormatBTC(12_345_678) + " BTC at block " + strconv.FormatInt(e.n.Height(), 10)
	for _, want := range []string{subject, pay.TxHash().String(), block.String(), "https://treasury.example/entity/sv"} {
		if !strings.Contains(mails[0], want) {
			t.Errorf("mail lacks %q:\n%s", want, mails[0])
		}
	}
	e.restart()
	e.syncCheck(e.alerter())
	e.wantPosts(1, "after restart")
	if n := len(mb.received()); n != 1 {
		t.Errorf("%d mails after restart, want 1", n)
	}
}
