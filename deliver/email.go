package deliver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// TLS modes of EmailConfig.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS; refused if the server cannot
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // clear text; only to a loopback host (a local relay)
)

// DefaultEmailTimeout bounds one SMTP conversation when
// EmailConfig.Timeout is 0.
const DefaultEmailTimeout = 30 * time.Second

// HeaderMessageKey carries Message.ID in e-mails, for filters and for
// deduplication by the recipient.
const HeaderMessageKey = "X-Treasurywatch-Id"

// EmailConfig says which SMTP server to hand mail to and who gets it.
type EmailConfig struct {
	Host     string
	Port     int    // 0 = 587 (starttls), 465 (tls) or 25 (none)
	User     string // "" = no SMTP AUTH; else AUTH PLAIN, only ever over TLS (or to loopback)
	Password string // never appears in errors
	From     string // RFC 5322 address, e.g. "Treasury Watch <reports@example.org>"
	To       []string
	TLS      string         // TLSStartTLS (default, mandatory), TLSImplicit, TLSNone (loopback host only)
	RootCAs  *x509.CertPool // nil = the system pool
	Timeout  time.Duration  // 0 = DefaultEmailTimeout
}

// Email sends each Message as one e-mail to EmailConfig.To, for
// officials and subscribers who read reports in their mailbox. Files
// become attachments; HTML, when set, is the alternative to Text.
type Email struct {
	cfg    EmailConfig
	from   *mail.Address
	client *gomail.Client
}

// NewEmail checks cfg and returns a Target. It refuses clear-text SMTP to
// anything but a loopback host, since that would expose the password and
// the reports on the network.
func NewEmail(cfg EmailConfig) (*Email, error) {
	bad := func(format string, args ...any) (*Email, error) {
		return nil, fmt.Errorf("email config: "+format, args...)
	}
	if cfg.Host == "" || (strings.ContainsAny(cfg.Host, " \t\r\n/:@") && net.ParseIP(cfg.Host) == nil) {
		return bad("host %q must be a host name or IP address", cfg.Host)
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	defPort := 0
	switch cfg.TLS {
	case TLSStartTLS:
		defPort = 587
	case TLSImplicit:
		defPort = 465
	case TLSNone:
		defPort = 25
		if !isLoopbackHost(cfg.Host) {
			return bad("tls %q sends the password and the reports in clear text; allowed only to a loopback host, not %q (use %q or %q)",
				TLSNone, cfg.Host, TLSStartTLS, TLSImplicit)
		}
	default:
		return bad("tls %q unknown (want %q, %q or %q)", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if cfg.Port == 0 {
		cfg.Port = defPort
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return bad("port %d out of range 1-65535", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultEmailTimeout
	}
	if cfg.Password != "" && cfg.User == "" {
		return bad("password set without user")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return bad("from %q: %v", cfg.From, err)
	}
	if len(cfg.To) == 0 {
		return bad("no recipient (to)")
	}
	for i, to := range cfg.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return bad("to[%d] %q: %v", i, to, err)
		}
	}
	cfg.To = append([]string(nil), cfg.To...)

	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: cfg.Host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	switch cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.User != "" {
		auth := gomail.SMTPAuthPlain
		if cfg.TLS == TLSNone {
			auth = gomail.SMTPAuthPlainNoEnc // loopback only, checked above
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.User), gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("email config: %w", scrubErr(err, cfg.Password))
	}
	return &Email{cfg: cfg, from: from, client: client}, nil
}

// Name is "email".
func (e *Email) Name() string { return "email" }

// Send hands m to the SMTP server in one conversation. SMTP 5xx replies,
// certificate failures and a server without STARTTLS are permanent;
// 4xx replies and network errors are retryable. ctx bounds connecting;
// EmailConfig.Timeout bounds the whole conversation.
func (e *Email) Send(ctx context.Context, m Message) error {
	what := fmt.Sprintf("email via %s", net.JoinHostPort(e.cfg.Host, strconv.Itoa(e.cfg.Port)))
	msg, err := e.build(m)
	if err != nil {
		return Permanent(fmt.Errorf("%s: message %q: %w", what, m.ID, err))
	}
	if err := e.client.DialAndSendWithContext(ctx, msg); err != nil {
		err = scrubErr(fmt.Errorf("%s: %w", what, err), e.cfg.Password)
		if smtpPermanent(err) {
			return Permanent(err)
		}
		return &Error{Err: err}
	}
	return nil
}

func (e *Email) build(m Message) (*gomail.Msg, error) {
	if m.Text == "" && m.HTML == "" {
		return nil, errors.New("no text or HTML body")
	}
	msg := gomail.NewMsg()
	if err := msg.From(e.cfg.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := msg.To(e.cfg.To...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.ID != "" {
		sum := sha256.Sum256([]byte(m.ID))
		domain := "treasurywatch.invalid"
		if i := strings.LastIndexByte(e.from.Address, '@'); i >= 0 {
			domain = e.from.Address[i+1:]
		}
		msg.SetMessageIDWithValue(hex.EncodeToString(sum[:16]) + "@" + domain)
		msg.SetGenHeader(gomail.Header(HeaderMessageKey), m.ID)
	}
	switch {
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		if m.HTML != "" {
			msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
		}
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	for i, f := range m.Files {
		if f.Name == "" || strings.ContainsAny(f.Name, "/\\\r\n") {
			return nil, fmt.Errorf("file %d: name %q is not a plain file name", i+1, f.Name)
		}
		ct := f.ContentType
		if ct == "" {
			ct = string(gomail.TypeAppOctetStream)
		}
		if err := msg.AttachReader(f.Name, bytes.NewReader(f.Data), gomail.WithFileContentType(gomail.ContentType(ct))); err != nil {
			return nil, fmt.Errorf("attach %q: %w", f.Name, err)
		}
	}
	return msg, nil
}

// smtpPermanent reports whether retrying err cannot help.
func smtpPermanent(err error) bool {
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch code := se.ErrorCode(); {
		case code >= 500:
			return true
		case code >= 400:
			return false
		}
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return true
		}
		return false
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code >= 500
	}
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return true
	}
	if errors.Is(err, gosmtp.ErrUnencrypted) || errors.Is(err, gosmtp.ErrWrongHostname) ||
		errors.Is(err, gomail.ErrPlainAuthNotSupported) {
		return true
	}
	// go-mail reports these configuration mismatches as plain text.
	s := err.Error()
	return strings.Contains(s, "does not support STARTTLS") || strings.Contains(s, "does not support SMTP AUTH")
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
