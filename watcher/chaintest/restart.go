package chaintest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// Restart stops btcd and starts it again on the same data directory and
// the same RPC (and P2P) address, then rescans the wallet. The chain and
// the indexes survive; the mempool does not, because btcd does not
// persist it. That is the point: after MineAt wrote blocks with past
// times, btcd still lists their transactions as unconfirmed (see MineAt),
// and a restart is the one way to make it forget them. Peer connections
// are lost. Restart must not run concurrently with Close or with a use of
// Client, which it replaces.
func (n *Node) Restart(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.http == nil {
		return errors.New("chaintest: Restart: node not running")
	}
	select {
	case <-n.exited:
		return errors.New("chaintest: Restart: btcd has exited (closed node?)")
	default:
	}
	bin, args := n.cmd.Path, make([]string, 0, len(n.cmd.Args))
	for _, a := range n.cmd.Args[1:] {
		switch {
		case strings.HasPrefix(a, "--rpclisten="):
			a = "--rpclisten=" + n.RPCAddr
		case strings.HasPrefix(a, "--listen=") && n.P2PAddr != "":
			a = "--listen=" + n.P2PAddr
		}
		args = append(args, a)
	}
	wantRPC, wantP2P := n.RPCAddr, n.P2PAddr

	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := n.call(stopCtx, "stop", nil)
	cancel()
	if err != nil {
		return fmt.Errorf("chaintest: Restart: %w", err)
	}
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
	if n.Client != nil {
		n.Client.Shutdown()
	}

	n.exited = make(chan struct{})
	if err := n.launch(ctx, bin, args, wantP2P != ""); err != nil {
		return fmt.Errorf("chaintest: Restart: %w", err)
	}
	if n.RPCAddr != wantRPC || n.P2PAddr != wantP2P {
		return fmt.Errorf("chaintest: Restart: btcd listens on %s (P2P %q), not %s (P2P %q)", n.RPCAddr, n.P2PAddr, wantRPC, wantP2P)
	}
	n.w.reset()
	return n.syncLocked(ctx)
}
