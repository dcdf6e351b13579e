package alert_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/alert"
	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// These tests run the Alerter on a ledger synced from a real btcd (regtest)
// and deliver to a real HTTP receiver on loopback. Expected figures come
// from the transactions the tests built and the node's own block hashes.

const spendFee = 5_000

// post is one webhook request the receiver took.
type post struct {
	Kind, Key string
	Payload   alert.Payload
}

// receiver is a webhook endpoint recording every POST; fail makes it answer
// 503 (a receiver that is down).
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []post
	bad bool
}

func newReceiver(tb testing.TB) *receiver {
	tb.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.bad {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(req.Body)
		p := post{Kind: req.Header.Get(deliver.HeaderKind), Key: req.Header.Get(deliver.HeaderIdempotencyKey)}
		if err := json.Unmarshal(body, &p.Payload); err != nil || req.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.got = append(r.got, p)
	}))
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) posts() []post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]post(nil), r.got...)
}

func (r *receiver) fail(bad bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad = bad
}

// env is a node, a watched key, a ledger synced from the node and a
// webhook receiver.
type env struct {
	t      *testing.T
	node   *chaintest.Node
	n      chaintest.T
	key    *chaintest.Key
	wl     *watcher.Watchlist
	dbPath string
	st     *store.Store
	eng    *watcher.Engine
	recv   *receiver
}

// newEnv starts a node and writes a watchlist following one key of it as
// entity "sv", with rules appended.
func newEnv(t *testing.T, rules string) *env {
	t.Helper()
	return newEnvWith(t, rules, chaintest.Options{})
}

// newEnvWith is newEnv with a node started with opts.
func newEnvWith(t *testing.T, rules string, opts chaintest.Options) *env {
	t.Helper()
	node := chaintest.StartTB(t, opts)
	e := &env{t: t, node: node, n: node.T(t), recv: newReceiver(t)}
	e.key = e.n.NewKey(chaintest.P2WPKH)
	dir := t.TempDir()
	e.dbPath = filepath.Join(dir, "ledger.db")
	src := fmt.Sprintf(`network = "regtest"
[store]
path = %q
[[backends]]
kind = "btcd"
url = "http://%s"
user = %q
password = %q
[[entities]]
id = "sv"
name = "El Salvador"
country = "SV"
[[entities.addresses]]
address = %q
[http]
public_url = "https://treasury.example/"
[report_delivery]
webhook_url = %q
%s`, e.dbPath, node.RPCAddr, node.User, node.Pass, e.key.Address.String(), e.recv.srv.URL+"/hook", rules)
	path := filepath.Join(dir, "watchlist.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	wl, err := watcher.LoadWatchlist(path)
	if err != nil {
		t.Fatal(err)
	}
	e.wl = wl
	client, err := btcd.New(btcd.Config{URL: "http://" + node.RPCAddr, User: node.User, Password: node.Pass}, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	e.openStore()
	e.eng = watcher.NewEngine(client, e.st, wl.Scripts(), nil)
	return e
}

func (e *env) openStore() {
	e.t.Helper()
	st, err := store.Open(e.t.Context(), e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	e.st = st
}

// restart closes the store and opens it again, as a restarted daemon does.
func (e *env) restart() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.openStore()
	e.eng = watcher.NewEngine(mustBackend(e.t, e.node), e.st, e.wl.Scripts(), nil)
}

func mustBackend(tb testing.TB, node *chaintest.Node) *btcd.Client {
	tb.Helper()
	c, err := btcd.New(btcd.Config{URL: "http://" + node.RPCAddr, User: node.User, Password: node.Pass}, node.Params, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func (e *env) alerter() *alert.Alerter {
	e.t.Helper()
	targets, err := alert.Targets(e.wl, "treasurywatch-test", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := alert.New(alert.Config{Watchlist: e.wl, Store: e.st, Targets: targets,
		Policy: deliver.Policy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// syncCheck syncs the ledger to the node's tip, runs one Check and returns
// its summary.
func (e *env) syncCheck(a *alert.Alerter) alert.Summary {
	e.t.Helper()
	if _, err := e.eng.Sync(e.t.Context()); err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	sum, err := a.Check(e.t.Context())
	if err != nil {
		e.t.Fatalf("check: %v", err)
	}
	return sum
}

// wantPosts fails unless the receiver took exactly n posts.
func (e *env) wantPosts(n int, when string) []post {
	e.t.Helper()
	got := e.recv.posts()
	if len(got) != n {
		e.t.Fatalf("%s: %d webhook posts, want %d: %+v", when, len(got), n, got)
	}
	return got
}

// checkAlert compares an alert post with the transaction, its block and
// the delta the test expects.
func (e *env) checkAlert(p post, tx *wire.MsgTx, block chainhash.Hash, height int64, kind string, delta int64, fee *int64, confs int64) {
	e.t.Helper()
	pl := p.Payload
	if p.Kind != "alert" || pl.Type != "alert" || p.Key == "" || p.Key != pl.ID {
		e.t.Errorf("headers kind %q key %q, payload type %q id %q", p.Kind, p.Key, pl.Type, pl.ID)
	}
	if pl.Txid != tx.TxHash().String() || pl.Block.Hash != block.String() || pl.Block.Height != height {
		e.t.Errorf("alert names tx %s in block %d %s; want %s in %d %s", pl.Txid, pl.Block.Height, pl.Block.Hash,
			tx.TxHash(), height, block)
	}
	if pl.Kind != kind || pl.AmountSat != delta || pl.Entity.ID != "sv" || pl.Entity.Name != "El Salvador" {
		e.t.Errorf("alert: %s %d sat of %+v; want %s %d of sv", pl.Kind, pl.AmountSat, pl.Entity, kind, delta)
	}
	if (fee == nil) != (pl.FeeSat == nil) || fee != nil && *fee != *pl.FeeSat {
		e.t.Errorf("alert fee %v, want %v", pl.FeeSat, fee)
	}
	if pl.Confirmations != confs || pl.DashboardURL != "https://treasury.example/entity/sv" || pl.Network != "regtest" {
		e.t.Errorf("alert confirmations %d, dashboard %q, network %q", pl.Confirmations, pl.DashboardURL, pl.Network)
	}
	if pl.Block.Time.Location() != time.UTC || pl.Block.Time.IsZero() {
		e.t.Errorf("block time %v is not UTC", pl.Block.Time)
	}
}

func TestAlertOnceAcrossRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "[[alerts]]\nentity = \"sv\"\nmin_btc = 0.001\n")
	a := e.alerter()
	// The first check only sets where the rule starts: history before it
	// is not news.
	e.n.Pay(chaintest.Output{Script: e.key.Script, Value: 7_000_000})
	e.n.Mine()
	if sum := e.syncCheck(a); sum != (alert.Summary{}) {
		t.Errorf("first check: %+v", sum)
	}
	e.wantPosts(0, "history before the rule")

	pay := e.n.Pay(chaintest.Output{Script: e.key.Script, Value: 50_000_000})
	e.syncCheck(a)
	e.wantPosts(0, "unconfirmed payment")

	block := e.n.Mine()
	if sum := e.syncCheck(a); sum != (alert.Summary{Sent: 1}) {
		t.Errorf("check after mining: %+v", sum)
	}
	got := e.wantPosts(1, "payment mined")
	e.checkAlert(got[0], pay, block, e.n.Height(), "inflow", 50_000_000, nil, 1)
	if s := got[0].Payload; s.Rule.MinSat != 100_000 || s.Rule.Entity != "sv" {
		t.Errorf("rule in payload %+v", s.Rule)
	}

	e.syncCheck(a)
	e.wantPosts(1, "second check")
	e.restart()
	e.n.Mine()
	if sum := e.syncCheck(e.alerter()); sum != (alert.Summary{}) {
		t.Errorf("check after restart: %+v", sum)
	}
	e.wantPosts(1, "after restart")
	rows, err := e.st.Alerts(t.Context())
	if err != nil || len(rows) != 1 || rows[0].State != store.AlertSent || rows[0].Attempts != 1 ||
		rows[0].Txid != pay.TxHash() || rows[0].Amount != 50_000_000 || rows[0].SentAt.IsZero() {
		t.Errorf("stored alerts %+v, %v", rows, err)
	}
}

func TestAlertConfirmations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "[[alerts]]\nconfirmations = 2\n")
	a := e.alerter()
	e.syncCheck(a)
	pay := e.n.Pay(chaintest.Output{Script: e.key.Script, Value: 1_2345_6789})
	block := e.n.Mine()
	height := e.n.Height()
	e.syncCheck(a)
	e.wantPosts(0, "one confirmation")
	e.n.Mine()
	e.syncCheck(a)
	got := e.wantPosts(1, "two confirmations")
	e.checkAlert(got[0], pay, block, height, "inflow", 1_2345_6789, nil, 2)
	if !strings.Contains(got[0].Payload.ID, pay.TxHash().String()) {
		t.Errorf("message id %q does not name the transaction", got[0].Payload.ID)
	}
}

func TestAlertFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `[[alerts]]
kinds = ["outflow"]
min_btc = 0.1
[[alerts]]
kinds = ["inflow"]
min_btc = "0.5"
`)
	other := e.n.NewKey(chaintest.P2WPKH)
	a := e.alerter()
	e.syncCheck(a)
	small := e.n.Pay(chaintest.Output{Script: e.key.Script, Value: 5_000_000})
	big := e.n.Pay(chaintest.Output{Script: e.key.Script, Value: btcutil.SatoshiPerBitcoin})
	bigBlock := e.n.Mine()
	bigHeight := e.n.Height()
	e.syncCheck(a)
	got := e.wantPosts(1, "two inflows, one above 0.5 BTC")
	e.checkAlert(got[0], big, bigBlock, bigHeight, "inflow", btcutil.SatoshiPerBitcoin, nil, 1)

	// Two outflows: 0.05 BTC (below 0.1) and 1 BTC.
	sc := chaintest.CoinsOf(small, e.key.Script)
	e.n.Spend(sc, []chaintest.Output{{Script: other.Script, Value: sc[0].Value - spendFee}}, spendFee)
	bc := chaintest.CoinsOf(big, e.key.Script)
	out := e.n.Spend(bc, []chaintest.Output{{Script: other.Script, Value: bc[0].Value - spendFee}}, spendFee)
	outBlock := e.n.Mine()
	e.syncCheck(a)
	got = e.wantPosts(2, "two outflows, one above 0.1 BTC")
	fee := int64(spendFee)
	e.checkAlert(got[1], out, outBlock, e.n.Height(), "outflow", -btcutil.SatoshiPerBitcoin, &fee, 1)
	if !strings.Contains(got[1].Payload.DashboardURL, "/entity/sv") {
		t.Errorf("dashboard link %q", got[1].Payload.DashboardURL)
	}
}

func TestAlertRetractedByReorg(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "[[alerts]]\nkinds = [\"inflow\"]\n")
	a := e.alerter()
	e.syncCheck(a)
	pay := e.n.Pay(chaintest.Output{Script: e.key.Script, Value: 25_000_000})
	block := e.n.Mine()
	height := e.n.Height()
	e.syncCheck(a)
	first := e.wantPosts(1, "payment mined")[0]
	e.checkAlert(first, pay, block, height, "inflow", 25_000_000, nil, 1)

	// The block is disconnected: the payment is back in the mempool, no
	// longer confirmed anywhere in the ledger.
	e.n.Invalidate(block)
	if sum := e.syncCheck(a); sum != (alert.Summary{Retracted: 1}) {
		t.Errorf("check after the reorg: %+v", sum)
	}
	got := e.wantPosts(2, "after the reorg")
	r := got[1]
	if r.Kind != "retraction" || r.Payload.Type != "retraction" || r.Payload.Retracts != first.Payload.ID ||
		r.Key != first.Payload.ID+"/retraction" || r.Payload.Txid != pay.TxHash().String() ||
		r.Payload.Block.Hash != block.String() || r.Payload.AmountSat != 25_000_000 {
		t.Errorf("retraction %+v, headers %s %s; alert id %s", r.Payload, r.Kind, r.Key, first.Payload.ID)
	}
	e.syncCheck(a)
	e.wantPosts(2, "check after the retraction")

	// Mined again on the new branch: a new alert, with a new id.
	again := e.n.Mine()
	if sum := e.syncCheck(a); sum != (alert.Summary{Sent: 1}) {
		t.Errorf("check after re-mining: %+v", sum)
	}
	got = e.wantPosts(3, "confirmed again")
	e.checkAlert(got[2], pay, again, e.n.Height(), "inflow", 25_000_000, nil, 1)
	if got[2].Payload.ID == first.Payload.ID {
		t.Errorf("re-announcement reuses id %s", first.Payload.ID)
	}
	rows, err := e.st.Alerts(t.Context())
	if err != nil || len(rows) != 2 || rows[0].State != store.AlertRetracted || rows[1].State != store.AlertSent {
		t.Errorf("stored alerts %+v, %v", rows, err)
	}
}

func TestAlertRetriedAfterReceiverFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "[[alerts]]\n")
	a := e.alerter()
	e.syncCheck(a)
	pay := e.n.Pay(chaintest.Output{Script: e.key.Script, Value: 3_000_000})
	block := e.n.Mine()
	e.recv.fail(true)
	if _, err := e.eng.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	sum, err := a.Check(t.Context())
	if err == nil || sum != (alert.Summary{Failed: 1}) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("check with the receiver down: %+v, %v", sum, err)
	}
	rows, _ := e.st.Alerts(t.Context())
	if len(rows) != 1 || rows[0].State != store.AlertPending || rows[0].Attempts != 2 || rows[0].LastError == "" {
		t.Fatalf("stored alerts %+v", rows)
	}
	e.recv.fail(false)
	e.restart()
	if sum := e.syncCheck(e.alerter()); sum != (alert.Summary{Sent: 1}) {
		t.Errorf("check with the receiver back: %+v", sum)
	}
	got := e.wantPosts(1, "receiver back")
	e.checkAlert(got[0], pay, block, e.n.Height(), "inflow", 3_000_000, nil, 1)
	if !strings.HasSuffix(got[0].Payload.ID, fmt.Sprintf("/%d", rows[0].ID)) {
		t.Errorf("id %q is not the pending alert's (%d)", got[0].Payload.ID, rows[0].ID)
	}
}

// TestAlertRetractedByDoubleSpend: an outflow mined on one node is undone
// by a longer branch of another node that spends the same coin elsewhere.
// The first outflow is gone from the chain and the ledger: one retraction,
// and the winning spend, an outflow too, is announced.
func TestAlertRetractedByDoubleSpend(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, "[[alerts]]\nkinds = [\"outflow\"]\n", chaintest.Options{Listen: true})
	node2 := chaintest.StartTB(t, chaintest.Options{InitialBlocks: -1})
	n2 := node2.T(t)
	n2.Connect(e.node)
	chaintest.WaitSyncTB(t, e.node, node2)
	loserTo, winnerTo := e.n.NewKey(chaintest.P2WPKH), e.n.NewKey(chaintest.P2WPKH)
	fund := e.n.Pay(chaintest.Output{Script: e.key.Script, Value: 40_000_000})
	e.n.Mine()
	chaintest.WaitSyncTB(t, e.node, node2)
	a := e.alerter()
	e.syncCheck(a)
	e.wantPosts(0, "funding is not an outflow")

	// Apart, node 1 mines one spend of the coin, node 2 a longer branch
	// with another.
	n2.Disconnect(e.node)
	c := chaintest.CoinsOf(fund, e.key.Script)
	loser := e.n.Spend(c, []chaintest.Output{{Script: loserTo.Script, Value: c[0].Value - spendFee}}, spendFee)
	loserBlock := e.n.Mine()
	e.syncCheck(a)
	first := e.wantPosts(1, "outflow mined on node 1")[0]
	fee := int64(spendFee)
	e.checkAlert(first, loser, loserBlock, e.n.Height(), "outflow", -40_000_000, &fee, 1)

	winner := signedSpend(t, e.key, c[0], winnerTo.Script, 2*spendFee)
	n2.RawRequest("sendrawtransaction", txHex(t, winner))
	n2.Mine()
	n2.Mine()
	n2.Connect(e.node)
	chaintest.WaitSyncTB(t, e.node, node2)
	if sum := e.syncCheck(a); sum != (alert.Summary{Sent: 1, Retracted: 1}) {
		t.Errorf("check after the reorg: %+v", sum)
	}
	got := e.wantPosts(3, "after the reorg")
	var retractions, alerts []post
	for _, p := range got[1:] {
		if p.Kind == "retraction" {
			retractions = append(retractions, p)
		} else {
			alerts = append(alerts, p)
		}
	}
	if len(retractions) != 1 || retractions[0].Payload.Retracts != first.Payload.ID || retractions[0].Payload.Txid != loser.TxHash().String() {
		t.Errorf("retractions %+v; want one of %s", retractions, first.Payload.ID)
	}
	fee2 := int64(2 * spendFee)
	if len(alerts) == 1 {
		e.checkAlert(alerts[0], winner, n2.BlockHash(e.n.Height()-1), e.n.Height()-1, "outflow", -40_000_000, &fee2, 2)
	} else {
		t.Errorf("alerts after the reorg %+v; want the winning spend", alerts)
	}
	e.syncCheck(a)
	e.wantPosts(3, "check after the reorg")
}

// signedSpend spends one P2WPKH coin of key to script, leaving fee.
func signedSpend(tb testing.TB, key *chaintest.Key, c chaintest.Coin, to []byte, fee int64) *wire.MsgTx {
	tb.Helper()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&c.OutPoint, nil, nil))
	tx.AddTxOut(wire.NewTxOut(int64(c.Value)-fee, to))
	fetcher := txscript.NewCannedPrevOutputFetcher(key.Script, int64(c.Value))
	w, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, int64(c.Value),
		key.Script, txscript.SigHashAll, key.Priv[0], true)
	if err != nil {
		tb.Fatal(err)
	}
	tx.TxIn[0].Witness = w
	return tx
}

func txHex(tb testing.TB, tx *wire.MsgTx) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes())
}
