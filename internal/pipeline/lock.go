package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockFile is the lock a batch run holds in its output folder; a sharded run
// holds it shared and its own .lungctl.shardIofN.lock exclusively, so shards
// of one run share a folder, while two runs of the same shard, or a whole
// run beside any shard, do not.
const LockFile = ".lungctl.lock"

// ErrBusy reports an output folder that another lungctl run is writing.
var ErrBusy = errors.New("output folder in use by another lungctl run")

// lockInfo is what a lock file holds: who holds it, for messages and for
// the stale-lock check where the filesystem has no locks.
type lockInfo struct {
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"` // /proc/<pid>/stat starttime
	Host       string `json:"host"`
	Started    string `json:"started"`
}

func (i lockInfo) String() string {
	if i.PID == 0 {
		return "unknown process"
	}
	return fmt.Sprintf("pid %d on %s, started %s", i.PID, i.Host, i.Started)
}

// outLock is a held output-folder lock.
type outLock struct {
	files  []*os.File
	remove []string // lock files to delete on release (held exclusively)
	// Note says whose stale lock was taken over ("" if none).
	Note string
}

// lockOut takes the output folder's locks: exclusive LockFile for a whole
// run (shard == ""), or shared LockFile plus an exclusive shard lock. A lock
// left by a run that was killed is released by the kernel with its process
// and taken over (Note says so); where the filesystem has no flock, the
// recorded PID and its start time decide whether the holder still runs.
func lockOut(out, shard string) (*outLock, error) {
	l := &outLock{}
	main := filepath.Join(out, LockFile)
	how := syscall.LOCK_EX
	if shard != "" {
		how = syscall.LOCK_SH
	}
	f, prev, err := flockFile(main, how)
	if err != nil {
		return nil, busyError(out, main, shard == "", err)
	}
	l.files = append(l.files, f)
	if shard == "" {
		l.remove = append(l.remove, main)
		if err := l.claim(f, prev); err != nil {
			l.release()
			return nil, fmt.Errorf("lock %s: %w", main, err)
		}
		return l, nil
	}
	sp := filepath.Join(out, ".lungctl"+shard+".lock")
	g, prev, err := flockFile(sp, syscall.LOCK_EX)
	if err != nil {
		l.release()
		return nil, busyError(out, sp, false, err)
	}
	l.files = append(l.files, g)
	l.remove = append(l.remove, sp)
	if err := l.claim(g, prev); err != nil {
		l.release()
		return nil, fmt.Errorf("lock %s: %w", sp, err)
	}
	return l, nil
}

// claim writes our info into an exclusively held lock file, noting the
// previous holder when its info was left behind. Where the filesystem has no
// flock that record is the lock itself, so failing to write it is an error.
func (l *outLock) claim(f *os.File, prev lockInfo) error {
	if prev.PID != 0 && prev.PID != os.Getpid() {
		l.Note = fmt.Sprintf("took over the lock of a run that is gone (%s)", prev)
	}
	b, _ := json.Marshal(currentLockInfo())
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("record the holder: %w", err)
	}
	if _, err := f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("record the holder: %w", err)
	}
	return nil
}

// release deletes the exclusively held lock files, then unlocks. Its errors
// are ignored: what a lock file holds matters only while it is held, and a
// file left behind (a failed Remove) is taken over by the next run, which
// finds it unlocked (see lockOut).
func (l *outLock) release() {
	for _, p := range l.remove {
		_ = os.Remove(p)
	}
	for _, f := range l.files {
		_ = f.Close()
	}
}

// flockFile opens (creating) path and flocks it without waiting. It retries
// when the file it locked was deleted or replaced by its previous holder in
// between, and returns the info the file held.
func flockFile(path string, how int) (*os.File, lockInfo, error) {
	for try := 0; try < 10; try++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, lockInfo{}, err
		}
		prev := readLockInfo(f)
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EINVAL) {
			// No flock here (some network filesystems): trust the record.
			if how == syscall.LOCK_EX && prev.running() {
				_ = f.Close() // not locked, nothing written: only read
				return nil, prev, syscall.EWOULDBLOCK
			}
			err = nil
		}
		if err != nil {
			_ = f.Close() // not locked, nothing written: only read
			return nil, prev, err
		}
		fst, err1 := f.Stat()
		pst, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(fst, pst) {
			return f, prev, nil
		}
		_ = f.Close() // a replaced file, nothing written: only read
	}
	return nil, lockInfo{}, fmt.Errorf("%s: keeps being replaced", path)
}

// busyError explains a lock that could not be taken; for a whole run it
// also names the shards that hold the folder.
func busyError(out, path string, whole bool, err error) error {
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	holders := []string{}
	if f, e := os.Open(path); e == nil {
		if i := readLockInfo(f); i.PID != 0 {
			holders = append(holders, i.String())
		}
		_ = f.Close() // opened for reading
	}
	if whole {
		shards, _ := filepath.Glob(filepath.Join(out, ".lungctl.shard*.lock"))
		for _, s := range shards {
			if f, e := os.OpenFile(s, os.O_RDWR, 0); e == nil {
				if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
					holders = append(holders, filepath.Base(s)+": "+readLockInfo(f).String())
				}
				_ = f.Close() // only read (and maybe flocked, which Close ends)
			}
		}
	}
	return fmt.Errorf("%s: %w (%s): wait for it to finish or use another -o", out, ErrBusy, strings.Join(holders, "; "))
}

// readLockInfo reads the holder recorded in a lock file; an empty, partial
// or foreign record is an unknown holder (PID 0).
func readLockInfo(f *os.File) lockInfo {
	var i lockInfo
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, 0)
	if json.Unmarshal(b[:n], &i) != nil {
		return lockInfo{}
	}
	return i
}

func currentLockInfo() lockInfo {
	host, _ := os.Hostname()
	return lockInfo{PID: os.Getpid(), StartTicks: startTicks(os.Getpid()), Host: host,
		Started: time.Now().UTC().Format(time.RFC3339)}
}

// running reports whether the recorded holder is a live process on this
// host with the same start time (a recycled PID is not the holder).
func (i lockInfo) running() bool {
	host, _ := os.Hostname()
	if i.PID <= 0 || i.Host != host {
		return i.PID > 0 // another host's process: assume it runs
	}
	t := startTicks(i.PID)
	return t != 0 && t == i.StartTicks
}

// startTicks is field 22 of /proc/<pid>/stat (start time in clock ticks
// since boot), or 0 when the process does not exist.
func startTicks(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}
