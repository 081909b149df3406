package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/identity/agent"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// identity.env tells local workloads, `lastmile token` and `lastmile identity
// env` where the managed identity endpoints are. Several instances may share a
// state directory (they share keys and identities), but the file can name only
// one instance's endpoints. It belongs to the instance that holds the lock
// envLock, for as long as that instance runs:
//
//   - a starting instance takes the lock and writes the file; if another
//     running instance holds it, the file is left alone and the new instance
//     waits, taking over (and rewriting the file) when the owner stops;
//   - the owner removes the file when it stops, so nothing points at a port
//     that is gone; a killed owner leaves it, but its lock goes with the
//     process, and readers (ReadWorkloadEnvironment) tell the file is stale;
//   - an instance that fails to start never touches it.

// envLock is held by the instance that owns identity.env.
const envLock = "identity.env.lock"

// envClaimWait is how long a starting instance waits for envLock before
// deciding that another running instance holds it (a reader checking that the
// owner is alive holds it for an instant).
const envClaimWait = time.Second

// envPublisher owns identity.env while it holds envLock.
type envPublisher struct {
	state *statedir.Dir
	env   agent.Environment // empty when every endpoint is off
	log   *slog.Logger

	mu     sync.Mutex
	unlock func() // non-nil while this instance owns the file
	closed bool
}

// publishWorkloadEnvironment claims identity.env for this instance and writes
// it. With every endpoint off, a file left by a stopped instance is removed.
func (s *Server) publishWorkloadEnvironment(cfg *config.Config) error {
	p := &envPublisher{state: s.state, env: s.plane.env, log: s.log}
	s.workloadEnv = p
	ctx, cancel := context.WithTimeout(context.Background(), envClaimWait)
	defer cancel()
	unlock, err := p.state.Lock(ctx, envLock)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		if endpointsOn(cfg.Identity.Endpoints) {
			p.log.Warn("another lastmile on this state directory publishes identity.env; this instance's managed identity endpoints are not written there until that instance stops",
				"state", s.state.Path(), "identity_endpoint", p.env.IdentityEndpoint, "imds", p.env.IMDSHost, "identity_socket", p.env.Socket)
		}
		return nil
	case err != nil:
		return err
	case !endpointsOn(cfg.Identity.Endpoints):
		// Nobody runs endpoints here: a file left behind would point
		// workloads at endpoints that are gone.
		defer unlock()
		if err := os.Remove(s.state.File(agent.EnvFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return p.publish(unlock)
}

func (p *envPublisher) publish(unlock func()) error {
	if err := agent.WriteEnvironment(p.state, p.env); err != nil {
		unlock()
		return err
	}
	p.unlock = unlock
	return nil
}

// takeOver waits, until ctx is done, for the instance that owns identity.env
// to stop, then publishes this instance's endpoints. It returns at once when
// this instance owns the file or serves no endpoint.
func (p *envPublisher) takeOver(ctx context.Context) {
	p.mu.Lock()
	waiting := p.unlock == nil && p.env != (agent.Environment{})
	p.mu.Unlock()
	if !waiting {
		return
	}
	unlock, err := p.state.Lock(ctx, envLock)
	if err != nil {
		return // ctx is done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		unlock()
		return
	}
	if err := p.publish(unlock); err != nil {
		p.log.Error("writing identity.env failed", "error", err)
		return
	}
	p.log.Info("the lastmile that published identity.env stopped; it now names this instance's managed identity endpoints",
		"identity_endpoint", p.env.IdentityEndpoint, "imds", p.env.IMDSHost, "identity_socket", p.env.Socket)
}

// close removes identity.env and gives up the lock, if this instance owns it.
func (p *envPublisher) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.unlock == nil {
		return
	}
	if err := os.Remove(p.state.File(agent.EnvFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.log.Error("removing identity.env failed; workloads may read endpoints that are gone", "error", err)
	}
	p.unlock()
	p.unlock = nil
}

// ErrStaleEnvironment means identity.env was left by a lastmile that is no
// longer running (it was killed before it could remove the file).
var ErrStaleEnvironment = errors.New("written by a lastmile that is no longer running")

// ReadWorkloadEnvironment reads the state directory's identity.env and checks
// that the lastmile that wrote it still runs. A missing file gives an error
// matching fs.ErrNotExist; a file whose owner is gone gives one matching
// ErrStaleEnvironment.
func ReadWorkloadEnvironment(state *statedir.Dir) (agent.Environment, error) {
	env, err := agent.ReadEnvironment(state)
	if err != nil {
		return env, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // try the lock once: the owner holds it for as long as it runs
	if unlock, err := state.Lock(ctx, envLock); err == nil {
		unlock()
		return agent.Environment{}, fmt.Errorf("%s: %w", state.File(agent.EnvFile), ErrStaleEnvironment)
	}
	return env, nil
}
