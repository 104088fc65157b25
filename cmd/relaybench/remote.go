package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// A process may hold 20,000 files here (RLIMIT_NOFILE's hard limit, which even root may
// not raise in this container), and a socket costs one at each end. Beyond inProcessMax
// sockets, the browsers' ends live in a child process (relaybench -fleet-client) that
// stamps each frame with the wall clock when it reads it and passes it up a pipe; both
// processes read the same system clock.
const inProcessMax = 9000

// remote is the child holding the browsers' sockets.
type remote struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	ready chan error
}

// startRemote starts the child and the reader that hands its frames to f.
func startRemote(f *fleet) (*remote, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-fleet-client")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	rm := &remote{cmd: cmd, in: in, ready: make(chan error, 1)}
	go func() {
		br := bufio.NewReaderSize(out, 1<<20)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				if !f.closing.Load() {
					f.sockErrs.Add(1)
					rm.ready <- fmt.Errorf("fleet client ended: %v", err)
				}
				return
			}
			line = line[:len(line)-1]
			kind, rest := line[0], line[min(2, len(line)):]
			switch kind {
			case 'F': // F idx ns frame
				a, b, _ := bytes.Cut(rest, []byte(" "))
				c, frame, _ := bytes.Cut(b, []byte(" "))
				idx, _ := strconv.Atoi(string(a))
				ns, _ := strconv.ParseInt(string(c), 10, 64)
				if idx < len(f.socks) {
					f.message(f.socks[idx], frame, ns)
				}
			case 'X': // a socket ended
				if !f.closing.Load() {
					f.sockErrs.Add(1)
				}
			case 'R':
				rm.ready <- nil
			case 'E':
				rm.ready <- fmt.Errorf("fleet client: %s", rest)
			}
		}
	}()
	return rm, nil
}

// open asks the child to open the job's sockets and waits until they are open.
func (rm *remote) open(job idleJob, timeout time.Duration) error {
	if err := json.NewEncoder(rm.in).Encode(job); err != nil {
		return err
	}
	select {
	case err := <-rm.ready:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("fleet client: sockets not open within %v", timeout)
	}
}

func (rm *remote) close() {
	rm.in.Close()
	done := make(chan struct{})
	go func() { rm.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		rm.cmd.Process.Kill()
	}
}

// fleetClient is the child: for each job on stdin it opens the sockets (numbered on from
// the previous jobs), says stream_connected, and writes every frame it reads to stdout as
// "F idx unix-ns frame"; "R" when a job's sockets are open, "E reason" if one failed, "X idx"
// when a socket ends. It exits when stdin closes.
func fleetClient(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	lines := make(chan []byte, 4096)
	var wg sync.WaitGroup
	wg.Go(func() {
		bw := bufio.NewWriterSize(stdout, 1<<16)
		for l := range lines {
			bw.Write(l)
			if len(lines) == 0 {
				bw.Flush()
			}
		}
		bw.Flush()
	})
	defer wg.Wait()
	defer close(lines)
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	var readers sync.WaitGroup
	defer readers.Wait()
	defer cancel()
	hello := []byte(`{"type":"stream_connected","epoch":"","last_seq":0}`)
	dec := json.NewDecoder(stdin)
	for {
		var job idleJob
		if err := dec.Decode(&job); err != nil {
			return nil // stdin closed: done
		}
		base := len(conns)
		opened := make([]*websocket.Conn, len(job.Cookies))
		var next atomic.Int64
		var failed atomic.Value
		var dial sync.WaitGroup
		for range loginWorkers {
			dial.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(opened) && failed.Load() == nil; i = int(next.Add(1)) - 1 {
					hdr := http.Header{"Origin": {job.Origin}, "Cookie": {job.Cookies[i]}}
					c, _, err := websocket.Dial(ctx, job.WS, &websocket.DialOptions{HTTPHeader: hdr})
					if err == nil {
						c.SetReadLimit(1 << 20)
						err = c.Write(ctx, websocket.MessageText, hello)
					}
					if err != nil {
						failed.Store(err.Error())
						return
					}
					opened[i] = c
				}
			})
		}
		dial.Wait()
		for i, c := range opened {
			if c == nil {
				continue
			}
			conns = append(conns, c)
			idx := strconv.Itoa(base + i)
			readers.Go(func() {
				for {
					_, b, err := c.Read(ctx)
					if err != nil {
						lines <- []byte("X " + idx + " " + err.Error() + "\n")
						return
					}
					ns := strconv.FormatInt(time.Now().UnixNano(), 10)
					l := make([]byte, 0, len(b)+len(idx)+len(ns)+5)
					l = append(append(append(append(append(l, "F "...), idx...), ' '), ns...), ' ')
					lines <- append(append(l, b...), '\n')
				}
			})
		}
		if msg, _ := failed.Load().(string); msg != "" {
			lines <- []byte("E " + msg + "\n")
			continue
		}
		lines <- []byte("R\n")
	}
}
