package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// Child is how Run starts the process that handles one scan when
// Config.Isolate is set: Path with Args, then "--", the input and the scan
// folder, with Env added to the parent's environment (and the scan's memory
// budget, see MaxMemoryEnv, and GOMAXPROCS set to its share of par's
// budget). The process must call ServeChild with those two paths; its
// stderr lines are forwarded to Config.Log with the scan's id (JSON lines,
// as slog's JSON handler writes them, keep their level and attributes).
type Child struct {
	Path string
	Args []string
	Env  []string
}

// ErrCrashed reports a scan process that ended without reporting a result.
var ErrCrashed = errors.New("scan process crashed")

// childReport is what a scan process writes on file descriptor 3.
type childReport struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// reportFD is the scan process's file descriptor for its report (the first
// of exec.Cmd.ExtraFiles).
const reportFD = 3

// ServeChild is the scan process's side of Run's isolation: it caps its
// address space from the budget in MaxMemoryEnv, processes input into dir
// exactly as an in-process run does (candidates.csv, then done.json last)
// and reports the outcome on file descriptor 3. A failed scan is a report,
// not an error: the error is non-nil only when there is nowhere to report.
func ServeChild(ctx context.Context, fn ScanFunc, input, dir string) error {
	if err := limitAddressSpace(); err != nil {
		// The scan can still fit its budget (GOMEMLIMIT holds it too); if
		// not, the kernel's out-of-memory killer ends it and crashReason
		// says so. A JSON line on stderr reaches the parent's log at its
		// level, with the scan's id (see forwarder).
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Warn("scan process: memory limit not set", "error", err.Error())
	}
	report := os.NewFile(reportFD, "report")
	if _, err := report.Stat(); err != nil {
		return fmt.Errorf("scan process: no report pipe on fd %d (this command is started by 'lungctl run'): %w", reportFD, err)
	}
	r := runOne(ctx, fn, input, dir, filepath.Base(dir))
	msg := childReport{OK: r.err == nil}
	if r.err != nil {
		msg.Error = r.err.Error()
	}
	b, _ := json.Marshal(msg)
	if _, err := report.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("scan process: report: %w", err)
	}
	return report.Close()
}

// spawn runs scan i in its own process and turns whatever happens to that
// process into the scan's result.
func (b *batch) spawn(ctx context.Context, i int) scanResult {
	input, dir, id := b.inputs[i], b.dirs[i], b.ids[i]
	// The kernel kills the scan process when the thread that started it
	// ends (Pdeathsig): keep this goroutine on its thread until it is
	// reaped, so a parent killed with SIGKILL leaves no scan running.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	repR, repW, err := os.Pipe()
	if err != nil {
		return scanResult{err: err}
	}
	defer repR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = repW.Close() // unused pipe: nothing was written to it
		return scanResult{err: err}
	}
	cmd := exec.Command(b.cfg.Child.Path, append(append([]string{}, b.cfg.Child.Args...), "--", input, dir)...)
	cmd.Env = append(append(os.Environ(), b.cfg.Child.Env...), b.env...)
	cmd.ExtraFiles = []*os.File{repW}
	cmd.Stderr = errW
	cmd.SysProcAttr = scanProcAttr()
	err = cmd.Start()
	// The parent's copies of the write ends: the scan process holds its own,
	// and the parent never writes, so closing them cannot lose data (it
	// only lets the reads below see EOF when the process ends).
	_ = repW.Close()
	_ = errW.Close()
	if err != nil {
		_ = errR.Close() // read end, nothing read yet
		return scanResult{err: fmt.Errorf("%s: start scan process: %w", input, err)}
	}
	// A failed SIGTERM means the process has already exited: Wait reports it.
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
	defer stop()
	fw := &forwarder{log: b.cfg.Log, id: id}
	logged := make(chan struct{})
	go func() {
		fw.copy(errR)
		_ = errR.Close() // read end, read to EOF
		close(logged)
	}()
	raw, _ := io.ReadAll(io.LimitReader(repR, 1<<20))
	<-logged
	werr := cmd.Wait()
	var rep childReport
	if json.Unmarshal(raw, &rep) == nil && (rep.OK || rep.Error != "") {
		if !rep.OK {
			return scanResult{err: errors.New(rep.Error)}
		}
		rec, cs, err := readComplete(dir, id)
		if err != nil {
			return scanResult{err: fmt.Errorf("%s: the scan process reported success but its outputs are incomplete: %w", input, err)}
		}
		return scanResult{rec: rec, cands: cs}
	}
	err = fmt.Errorf("%s: %w: %s", input, ErrCrashed, b.crashReason(cmd.ProcessState, werr, fw.crash))
	// SIGINT, SIGTERM or SIGHUP means someone stopped the scan (Ctrl-C
	// reaches the scan processes with the terminal's process group, maybe
	// before run sees it): no outcome, so no fallback row is written.
	return scanResult{err: err, interrupted: stoppedBySignal(cmd.ProcessState)}
}

func stoppedBySignal(ps *os.ProcessState) bool {
	if ps == nil {
		return false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return false
	}
	s := ws.Signal()
	return s == syscall.SIGINT || s == syscall.SIGTERM || s == syscall.SIGHUP
}

// crashReason describes how a scan process ended without a report.
func (b *batch) crashReason(ps *os.ProcessState, werr error, crash string) string {
	var s string
	var ws syscall.WaitStatus
	ok := false
	if ps != nil {
		ws, ok = ps.Sys().(syscall.WaitStatus)
	}
	switch {
	case ps == nil:
		s = fmt.Sprintf("wait: %v", werr)
	case ok && ws.Signaled():
		s = "killed by " + signalName(ws.Signal())
		if ws.Signal() == syscall.SIGKILL {
			s += fmt.Sprintf(" (the kernel's out-of-memory killer sends SIGKILL: the scan may need more than its budget of %s; raise run's --max-memory or lower -j)", FormatSize(b.perScan))
		}
	default:
		s = fmt.Sprintf("exited with status %d without a result", ps.ExitCode())
	}
	if crash != "" {
		s += ": " + crash
		if strings.Contains(crash, "out of memory") {
			s += fmt.Sprintf(" (its budget is %s; raise run's --max-memory or lower -j)", FormatSize(b.perScan))
		}
	}
	return s
}

func signalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGABRT: "SIGABRT", syscall.SIGSEGV: "SIGSEGV",
		syscall.SIGBUS: "SIGBUS", syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGILL: "SIGILL"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("signal %d (%v)", int(s), s)
}
