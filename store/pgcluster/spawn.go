package pgcluster

import (
	"os/exec"
	"runtime"
	"sync"
)

// The kernel sends the parent-death signal when the *thread* that forked
// the child exits, not the process (prctl(2) PR_SET_PDEATHSIG; Go issue
// 27505). Go retires a thread when a goroutine locked to it exits, so a
// server started from such a goroutine would be shut down at a random
// moment. All server processes are therefore started from one goroutine
// that locks its thread and never returns: the thread lives exactly as long
// as the process.
var (
	spawnOnce sync.Once
	spawnReq  chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// startOnSpawner runs cmd.Start on the long-lived spawner thread.
func startOnSpawner(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread()
			for req := range spawnReq {
				req.done <- req.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReq <- spawnRequest{cmd: cmd, done: done}
	return <-done
}
