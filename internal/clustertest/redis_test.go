package clustertest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ownRedis is a redis-server of the test's own on a free loopback port (the shared one at
// REDIS_URL is never restarted).
type ownRedis struct {
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is needed to restart a Redis of the test's own: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &ownRedis{port: port, dir: t.TempDir()}
	r.start(t)
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *ownRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *ownRedis) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("redis-server", "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir)
	out, _ := r.cmd.StdoutPipe()
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
				signalled = true
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		r.cmd.Wait()
		close(r.done)
	}()
	select {
	case <-ready:
	case <-r.done:
		t.Fatal("redis-server exited at start")
	case <-time.After(20 * time.Second):
		t.Fatal("redis-server not ready within 20s")
	}
}

func (r *ownRedis) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Kill()
	<-r.done
}

// restart kills the server (no shutdown: as a crash) and starts it again on the same port.
func (r *ownRedis) restart(t *testing.T) {
	t.Helper()
	r.stop()
	r.start(t)
}
