package alert

import (
	"fmt"
	"net/http"

	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// Targets builds the delivery targets the watchlist's alert rules use,
// from [report_delivery] and [smtp]: alerts go where reports go. Secrets
// are read from the environment now; their errors name the variable only.
// client carries webhook POSTs (nil means the deliver package's default).
func Targets(w *watcher.Watchlist, userAgent string, client *http.Client) (map[string]deliver.Target, error) {
	used := map[string]bool{}
	for _, r := range w.Alerts {
		for _, ch := range w.AlertChannels(r) {
			used[ch] = true
		}
	}
	out := map[string]deliver.Target{}
	if used["webhook"] {
		secret, err := w.ReportDelivery.WebhookSecret()
		if err != nil {
			return nil, fmt.Errorf("alert webhook: %w", err)
		}
		out["webhook"] = deliver.NewWebhook(deliver.WebhookConfig{URL: w.ReportDelivery.WebhookURL, Secret: secret,
			UserAgent: userAgent}, client)
	}
	if used["email"] {
		pass, err := w.SMTP.Password()
		if err != nil {
			return nil, fmt.Errorf("alert email: %w", err)
		}
		e, err := deliver.NewEmail(deliver.EmailConfig{Host: w.SMTP.Host, Port: w.SMTP.Port, User: w.SMTP.User,
			Password: pass, From: w.SMTP.From, To: w.ReportDelivery.EmailTo, TLS: w.SMTP.TLS})
		if err != nil {
			return nil, fmt.Errorf("alert email: %w", err)
		}
		out["email"] = e
	}
	return out, nil
}
