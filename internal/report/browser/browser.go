// Package browser drives a headless Chromium for tests that must see a
// page as a reader does: did it load without console errors, what does
// its DOM hold, what does it look like (screenshot), does it print (PDF).
//
// It speaks the Chrome DevTools Protocol over a pipe
// (--remote-debugging-pipe: the browser reads commands on its fd 3 and
// writes replies and events on its fd 4, each one JSON object ended by a
// NUL byte), so it needs no network port, no WebSocket and no dependency
// beyond the standard library. Chromium comes from Debian (package
// chromium); Require skips a test when it is absent, or fails it under
// LUNGCTL_REQUIRE_PEERS=1, the convention of internal/pyref.
package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// ErrClosed is returned for commands sent after the browser exited.
var ErrClosed = errors.New("browser: closed")

// Candidates are the executables Find tries, in order, after the
// LUNGCTL_CHROMIUM environment variable.
var Candidates = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"}

// Find returns the Chromium executable: $LUNGCTL_CHROMIUM when set,
// otherwise the first of Candidates found.
func Find() (string, error) {
	if p := os.Getenv("LUNGCTL_CHROMIUM"); p != "" {
		exe, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("browser: $LUNGCTL_CHROMIUM: %w", err)
		}
		return exe, nil
	}
	for _, c := range Candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("browser: no Chromium found (tried $LUNGCTL_CHROMIUM, %s)", strings.Join(Candidates, ", "))
}

// Require returns the Chromium executable, or skips tb with a message
// saying how to install it; under LUNGCTL_REQUIRE_PEERS=1 it fails tb
// instead, so CI cannot pass by skipping every browser test.
func Require(tb testing.TB) string {
	tb.Helper()
	exe, err := Find()
	if err != nil {
		msg := err.Error() + "; install Debian's chromium (apt-get install chromium) or set LUNGCTL_CHROMIUM"
		if os.Getenv("LUNGCTL_REQUIRE_PEERS") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return exe
}

// Browser is a running headless Chromium.
type Browser struct {
	cmd     *exec.Cmd
	toB     *os.File // our end of the browser's fd 3
	fromB   *os.File // our end of the browser's fd 4
	profile string
	stderr  *tailBuffer
	exited  chan struct{}

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan message
	pages   map[string]*Page // by CDP session id
	readErr error
	done    chan struct{} // closed when the reader stops
	wmu     sync.Mutex
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Start launches exe headless with a fresh temporary profile, the network
// features that phone home switched off, and the DevTools pipe. ctx bounds
// the start only; Close ends the browser.
func Start(ctx context.Context, exe string) (*Browser, error) {
	profile, err := os.MkdirTemp("", "lungctl-chromium-")
	if err != nil {
		return nil, fmt.Errorf("browser: profile folder: %w", err)
	}
	args := []string{"--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--user-data-dir=" + profile,
		"--remote-debugging-pipe", "about:blank"}
	if os.Geteuid() == 0 {
		args = append([]string{"--no-sandbox"}, args...) // Chromium refuses to run as root with its sandbox
	}
	// Pipes: the browser reads fd 3 (cmdR) and writes fd 4 (evW).
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		_ = os.RemoveAll(profile) // cleanup; the pipe error is the one to report
		return nil, fmt.Errorf("browser: pipe: %w", err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		closeAll(cmdR, cmdW)
		_ = os.RemoveAll(profile)
		return nil, fmt.Errorf("browser: pipe: %w", err)
	}
	b := &Browser{toB: cmdW, fromB: evR, profile: profile, stderr: &tailBuffer{max: 16 << 10},
		exited: make(chan struct{}), pending: map[int64]chan message{}, pages: map[string]*Page{}, done: make(chan struct{})}
	b.cmd = exec.Command(exe, args...)
	b.cmd.ExtraFiles = []*os.File{cmdR, evW}
	b.cmd.Stdout = b.stderr
	b.cmd.Stderr = b.stderr
	setProcessGroup(b.cmd)
	if err := b.cmd.Start(); err != nil {
		closeAll(cmdR, cmdW, evR, evW)
		_ = os.RemoveAll(profile)
		return nil, fmt.Errorf("browser: start %s: %w", exe, err)
	}
	closeAll(cmdR, evW) // the browser's ends
	go func() {
		_ = b.cmd.Wait() // how it ended shows in its output (b.stderr) and in b.call's errors
		close(b.exited)
	}()
	go b.read()
	// The browser answers once it is up.
	if _, err := b.call(ctx, "", "Browser.getVersion", nil); err != nil {
		_ = b.Close() // the silence is the error to report
		return nil, fmt.Errorf("browser: %s did not answer: %w; its output: %s", exe, err, b.stderr.String())
	}
	return b, nil
}

// read dispatches replies to callers and events to their pages.
func (b *Browser) read() {
	defer close(b.done)
	r := bufio.NewReaderSize(b.fromB, 1<<20)
	var err error
	for {
		var line []byte
		line, err = r.ReadBytes(0)
		if err != nil {
			break
		}
		var m message
		if json.Unmarshal(line[:len(line)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				delete(b.pending, m.ID)
				ch <- m
			}
		} else if p := b.pages[m.SessionID]; p != nil {
			p.event(m.Method, m.Params)
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.readErr = fmt.Errorf("%w: %w", ErrClosed, err)
	for id, ch := range b.pending {
		close(ch)
		delete(b.pending, id)
	}
	b.mu.Unlock()
}

// call sends one command (on session, "" for the browser itself) and waits
// for its result.
func (b *Browser) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	ch := make(chan message, 1)
	b.mu.Lock()
	if b.readErr != nil {
		err := b.readErr
		b.mu.Unlock()
		return nil, err
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if session != "" {
		req["sessionId"] = session
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("browser: %s: %w", method, err)
	}
	b.wmu.Lock()
	_, err = b.toB.Write(append(data, 0))
	b.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("browser: send %s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("browser: %s: %w", method, ErrClosed)
		}
		if m.Error != nil {
			return nil, fmt.Errorf("browser: %s: %s (code %d)", method, m.Error.Message, m.Error.Code)
		}
		return m.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("browser: %s: %w", method, ctx.Err())
	}
}

// Close asks the browser to quit, waits up to five seconds, kills it (and
// its helper processes) if it has not, and removes the profile folder.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _ = b.call(ctx, "", "Browser.close", nil) // a browser that does not answer is killed below
	cancel()
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		killProcessGroup(b.cmd)
		<-b.exited
	}
	closeAll(b.toB, b.fromB)
	<-b.done
	return os.RemoveAll(b.profile)
}

// Output is the tail of the browser's own stdout and stderr.
func (b *Browser) Output() string { return b.stderr.String() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

var _ io.Writer = (*tailBuffer)(nil)

// closeAll closes pipe ends on a cleanup or shutdown path, where a Close
// error (the other end already gone) changes nothing.
func closeAll(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}
