// Package chaintest runs a real btcd on regtest (or simnet) for tests,
// benchmarks and the demo: it starts and stops the process, mines, and holds
// a small wallet that can pay to and spend from every standard script type.
//
// Backends and the engine must be proven against a real server, not against
// a fake that shares their author's misunderstandings; btcd starts in ~50 ms,
// so every test can afford its own node.
//
// The core API returns errors and needs no *testing.T (the demo subcommand
// uses it); StartTB and Node.T are the thin test-only conveniences.
package chaintest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/rpcclient"
)

// DefaultInitialBlocks is how many blocks Start mines when
// Options.InitialBlocks is zero: 120 blocks leave 21 mature coinbases, so
// that many Pay calls succeed before anyone has to mine.
const DefaultInitialBlocks = 120

// EnvBtcd names the environment variable that may hold the path of the btcd
// binary, for runs outside the module tree (the installed demo command).
const EnvBtcd = "TREASURYWATCH_BTCD"

// Options selects how the node is started. The zero value is the common case:
// regtest, --txindex and --addrindex on, DefaultInitialBlocks mined, no P2P
// listener.
type Options struct {
	// Params is the chain: nil or &chaincfg.RegressionNetParams for
	// regtest, &chaincfg.SimNetParams for simnet (the "wrong chain" case).
	// Other networks are refused: a test must never touch a public chain.
	Params *chaincfg.Params
	// NoTxIndex and NoAddrIndex start btcd without --txindex or
	// --addrindex, to test the error paths of backends that need them.
	// --addrindex requires --txindex, so NoTxIndex implies NoAddrIndex.
	NoTxIndex   bool
	NoAddrIndex bool
	// InitialBlocks is how many blocks Start mines: 0 means
	// DefaultInitialBlocks, a negative value means none (for a second
	// node that must sync another node's chain rather than start its own).
	InitialBlocks int
	// Listen accepts P2P connections on 127.0.0.1 (random port, see
	// Node.P2PAddr) so another Node can Connect to this one; otherwise
	// btcd runs with --nolisten.
	Listen bool
	// Seed makes the wallet's keys reproducible across runs; empty means
	// random. Two nodes sharing a chain must not share a seed, or their
	// wallets would both claim the same coins.
	Seed string
	// Btcd is the path of the btcd binary. Empty means $TREASURYWATCH_BTCD,
	// else `go tool -n btcd` run in the enclosing module, else btcd on PATH.
	Btcd string
	// ExtraArgs are appended to btcd's command line (e.g. "--debuglevel=debug").
	ExtraArgs []string
}

// Node is one running btcd and the wallet that holds the keys of its miner
// address and of every Key made with NewKey. Its methods are safe for
// concurrent use.
type Node struct {
	// Params is the node's chain, for encoding addresses and checking
	// backends' CheckNetwork.
	Params *chaincfg.Params
	// RPCAddr is the JSON-RPC endpoint, "127.0.0.1:port", plain HTTP.
	RPCAddr string
	// P2PAddr is the P2P listener, "127.0.0.1:port", when Options.Listen
	// was set; empty otherwise.
	P2PAddr string
	// User and Pass are the RPC credentials (random per node), for code
	// under test that builds its own client.
	User, Pass string
	// Client is an rpcclient in HTTP POST mode, for tests that want typed
	// calls. It has no context support; the Node's own methods use a
	// context-aware client instead.
	Client *rpcclient.Client
	// Dir is the node's temporary directory (data, logs, config); removed
	// by Close.
	Dir string

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been reaped
	log     *logRing
	http    *http.Client
	url     string
	mu      sync.Mutex // guards w and serialises wallet operations
	w       *wallet
	closing sync.Once
	closeEr error
}

// Start launches btcd in a new temporary directory, waits until its RPC
// server answers and mines the initial blocks. ctx bounds only the start-up;
// the node runs until Close. On error nothing is left running or on disk.
func Start(ctx context.Context, opts Options) (*Node, error) {
	params := opts.Params
	if params == nil {
		params = &chaincfg.RegressionNetParams
	}
	var netFlag string
	switch params.Name {
	case chaincfg.RegressionNetParams.Name:
		netFlag = "--regtest"
	case chaincfg.SimNetParams.Name:
		netFlag = "--simnet"
	default:
		return nil, fmt.Errorf("chaintest: network %q not supported (regtest or simnet only)", params.Name)
	}
	bin, err := findBtcd(ctx, opts.Btcd)
	if err != nil {
		return nil, err
	}
	seed := []byte(opts.Seed)
	if len(seed) == 0 {
		seed = make([]byte, 32)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
	}
	w, err := newWallet(params, seed)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "chaintest-btcd-")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n := &Node{
		Params: params,
		User:   randomHex(8),
		Pass:   randomHex(16),
		Dir:    dir,
		exited: make(chan struct{}),
		log:    &logRing{max: 300},
		w:      w,
	}
	args := []string{
		netFlag,
		"--configfile=" + conf,
		"--datadir=" + filepath.Join(dir, "data"),
		"--logdir=" + filepath.Join(dir, "logs"),
		"--rpcuser=" + n.User,
		"--rpcpass=" + n.Pass,
		"--rpclisten=127.0.0.1:0",
		"--notls",
		"--rpccert=" + filepath.Join(dir, "rpc.cert"),
		"--rpckey=" + filepath.Join(dir, "rpc.key"),
		"--miningaddr=" + w.miner.Address.EncodeAddress(),
		"--nodnsseed",
		"--utxocachemaxsize=16",
	}
	if !opts.NoTxIndex {
		args = append(args, "--txindex")
		if !opts.NoAddrIndex {
			args = append(args, "--addrindex")
		}
	}
	if opts.Listen {
		args = append(args, "--listen=127.0.0.1:0")
	} else {
		args = append(args, "--nolisten")
	}
	args = append(args, opts.ExtraArgs...)

	if err := n.launch(ctx, bin, args, opts.Listen); err != nil {
		n.Close()
		return nil, err
	}
	blocks := opts.InitialBlocks
	if blocks == 0 {
		blocks = DefaultInitialBlocks
	}
	if blocks > 0 {
		if _, err := n.Generate(ctx, uint32(blocks)); err != nil {
			n.Close()
			return nil, fmt.Errorf("chaintest: mining initial blocks: %w", err)
		}
	} else if err := n.Sync(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// launch starts the process, reads the listening ports from its log and
// waits for the RPC server to answer.
func (n *Node) launch(ctx context.Context, bin string, args []string, listen bool) error {
	r, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = n.Dir
	cmd.Stdout, cmd.Stderr = wr, wr
	// Setpgid lets Close kill the whole group; Pdeathsig kills btcd when
	// the test binary dies without running Close.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Close()
		wr.Close()
		return fmt.Errorf("chaintest: starting %s: %w", bin, err)
	}
	wr.Close()
	n.cmd = cmd
	go func() {
		cmd.Wait()
		close(n.exited)
	}()

	rpcAddr := make(chan string, 1)
	p2pAddr := make(chan string, 1)
	go n.readLog(r, rpcAddr, p2pAddr)

	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	wait := func(ch chan string, what string) (string, error) {
		select {
		case a := <-ch:
			return a, nil
		case <-n.exited:
			return "", fmt.Errorf("chaintest: btcd exited before its %s listened:\n%s", what, n.LogTail(20))
		case <-ctx.Done():
			return "", fmt.Errorf("chaintest: waiting for btcd's %s: %w", what, ctx.Err())
		case <-timeout.C:
			return "", fmt.Errorf("chaintest: btcd's %s did not listen within 30s:\n%s", what, n.LogTail(20))
		}
	}
	if n.RPCAddr, err = wait(rpcAddr, "RPC server"); err != nil {
		return err
	}
	if listen {
		if n.P2PAddr, err = wait(p2pAddr, "P2P server"); err != nil {
			return err
		}
	}
	n.url = "http://" + n.RPCAddr + "/"
	// btcd hijacks and closes every RPC connection: keep-alive would only
	// produce races with closed sockets.
	n.http = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		if _, err = n.call(ctx, "getblockcount", nil); err == nil {
			break
		}
		select {
		case <-n.exited:
			return fmt.Errorf("chaintest: btcd exited: %v\n%s", err, n.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("chaintest: btcd RPC not ready: %w (last error %v)", ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	n.Client, err = rpcclient.New(&rpcclient.ConnConfig{
		Host:         n.RPCAddr,
		User:         n.User,
		Pass:         n.Pass,
		HTTPPostMode: true,
		DisableTLS:   true,
	}, nil)
	return err
}

// readLog keeps btcd's stdout drained (a full pipe would block btcd),
// remembers its tail for diagnostics and reports the listening addresses.
func (n *Node) readLog(r *os.File, rpcAddr, p2pAddr chan<- string) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	const rpcMark, p2pMark = "RPC server listening on ", "Server listening on "
	for sc.Scan() {
		line := sc.Text()
		n.log.add(line)
		if i := strings.Index(line, rpcMark); i >= 0 {
			select {
			case rpcAddr <- strings.TrimSpace(line[i+len(rpcMark):]):
			default:
			}
		} else if i := strings.Index(line, p2pMark); i >= 0 {
			select {
			case p2pAddr <- strings.TrimSpace(line[i+len(p2pMark):]):
			default:
			}
		}
	}
}

// Close stops btcd (RPC stop, then SIGKILL to its process group if it has
// not exited within 10 s) and removes Dir. It is idempotent and safe to call
// on a partly started Node.
func (n *Node) Close() error {
	n.closing.Do(func() {
		if n.cmd != nil {
			select {
			case <-n.exited:
			default:
				grace := time.Duration(0) // not answering RPC yet: kill at once
				if n.http != nil {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					n.call(ctx, "stop", nil)
					cancel()
					grace = 10 * time.Second
				}
				select {
				case <-n.exited:
				case <-time.After(grace):
					// The process is not reaped yet, so its
					// group id cannot have been reused.
					syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
					<-n.exited
				}
			}
		}
		if n.Client != nil {
			n.Client.Shutdown()
		}
		if n.Dir != "" {
			n.closeEr = os.RemoveAll(n.Dir)
		}
	})
	return n.closeEr
}

// LogTail returns the last lines (at most 300 kept) btcd printed, for
// failure messages.
func (n *Node) LogTail(lines int) string { return n.log.tail(lines) }

// logRing keeps the last max lines of btcd's output.
type logRing struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (l *logRing) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) >= l.max {
		l.lines = append(l.lines[:0], l.lines[len(l.lines)-l.max/2:]...)
	}
	l.lines = append(l.lines, s)
}

func (l *logRing) tail(k int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k > len(l.lines) {
		k = len(l.lines)
	}
	return strings.Join(l.lines[len(l.lines)-k:], "\n")
}

var btcdCache struct {
	sync.Mutex
	path string
}

// findBtcd locates the btcd binary; the result of `go tool -n` is cached for
// the process because it costs 0.2 s even when warm.
func findBtcd(ctx context.Context, explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p := os.Getenv(EnvBtcd); p != "" {
		return p, nil
	}
	btcdCache.Lock()
	defer btcdCache.Unlock()
	if btcdCache.path != "" {
		return btcdCache.path, nil
	}
	if root, err := moduleRoot(); err == nil {
		cmd := exec.CommandContext(ctx, "go", "tool", "-n", "btcd")
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("chaintest: go tool -n btcd in %s: %v: %s", root, err, strings.TrimSpace(stderr.String()))
		}
		btcdCache.path = strings.TrimSpace(string(out))
		return btcdCache.path, nil
	}
	if p, err := exec.LookPath("btcd"); err == nil {
		btcdCache.path = p
		return p, nil
	}
	return "", errors.New("chaintest: btcd not found: set Options.Btcd or $" + EnvBtcd + ", or run inside the module")
}

// moduleRoot walks up from the working directory to the nearest go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
