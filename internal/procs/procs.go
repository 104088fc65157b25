// Package procs builds and runs twitchrelay's binaries (cmd/twitchrelay, cmd/twitchsim) as
// real child processes on loopback: the multi-process tests (internal/testing/cluster) and
// relaybench's broker mode share it. It does not import package testing, so a command may
// link it. Every wait is bounded.
package procs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Bounds of the waits.
const (
	StartTimeout = 60 * time.Second // a process prints where it listens
	StopTimeout  = 30 * time.Second // a process exits after SIGTERM or SIGKILL
	lineMax      = 1 << 20          // longest output line scanned for the listen line
)

// Binaries are the built commands.
type Binaries struct{ Relay, Sim string }

// Build compiles cmd/twitchrelay and cmd/twitchsim into dir, from the module root found
// above the working directory.
func Build(dir string) (Binaries, error) {
	root, err := ModuleRoot()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Relay: filepath.Join(dir, "twitchrelay"), Sim: filepath.Join(dir, "twitchsim")}
	for _, job := range []struct{ out, pkg string }{{b.Relay, "./cmd/twitchrelay"}, {b.Sim, "./cmd/twitchsim"}} {
		cmd := exec.Command("go", "build", "-o", job.out, job.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("procs: go build %s: %w\n%s", job.pkg, err, o)
		}
	}
	return b, nil
}

// ModuleRoot is the nearest directory above the working directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("procs: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("procs: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Proc is one started child process.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is read
	// Found is the first submatch of the start pattern: where the process listens.
	Found string
}

// lockedWriter lets the process's two streams share one log writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Start starts cmd, copies its stdout and stderr into log (nil: discarded), and waits for
// the first line of stdout (onStdout) or stderr matching re, whose first submatch becomes
// Found. A process that exits first, or prints nothing matching within StartTimeout, is an
// error (and is killed).
func Start(cmd *exec.Cmd, log io.Writer, re *regexp.Regexp, onStdout bool) (*Proc, error) {
	if log == nil {
		log = io.Discard
	}
	lw := &lockedWriter{w: log}
	pr, pw := io.Pipe()
	if onStdout {
		cmd.Stdout, cmd.Stderr = pw, lw
	} else {
		cmd.Stdout, cmd.Stderr = lw, pw
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("procs: start %s: %w", cmd.Path, err)
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() { // the scanner: ends when the pipe is closed below
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), lineMax)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			lw.Write([]byte(line + "\n"))
			if m := re.FindStringSubmatch(line); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, pr)
	})
	go func() { // the waiter: owns done
		cmd.Wait()
		pw.Close()
		wg.Wait()
		close(p.done)
	}()
	select {
	case p.Found = <-found:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("procs: %s exited before it listened", cmd.Path)
	case <-time.After(StartTimeout):
		cmd.Process.Kill()
		<-p.done
		return nil, fmt.Errorf("procs: %s did not listen within %s", cmd.Path, StartTimeout)
	}
}

// Stop sends sig and waits for the process to exit, killing it after StopTimeout. It
// returns an error only when even the kill did not end it in time.
func (p *Proc) Stop(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(StopTimeout):
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
		return fmt.Errorf("procs: %s ignored %v for %s and was killed", p.cmd.Path, sig, StopTimeout)
	case <-time.After(StopTimeout):
		return fmt.Errorf("procs: %s did not exit after SIGKILL", p.cmd.Path)
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }
