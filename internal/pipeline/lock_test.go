package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLockRecordStaleness: where flock is unavailable the recorded PID and
// its start time decide; a recycled PID (same number, other start time) or
// a dead one is stale.
func TestLockRecordStaleness(t *testing.T) {
	me := currentLockInfo()
	if !me.running() {
		t.Fatalf("this process's own record %+v reads as stale", me)
	}
	recycled := me
	recycled.StartTicks++
	gone := me
	gone.PID = 1 << 30
	other := me
	other.Host += "-elsewhere"
	for _, c := range []struct {
		name string
		info lockInfo
		want bool
	}{{"recycled pid", recycled, false}, {"no such process", gone, false}, {"other host", other, true}, {"empty", lockInfo{}, false}} {
		if got := c.info.running(); got != c.want {
			t.Errorf("%s: running() = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestShardLocks: shards of one run share the folder; the same shard twice,
// or a whole run beside a shard, is refused.
func TestShardLocks(t *testing.T) {
	out := t.TempDir()
	a, err := lockOut(out, ".shard1of2")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lockOut(out, ".shard2of2")
	if err != nil {
		t.Fatalf("second shard refused: %v", err)
	}
	if _, err := lockOut(out, ".shard1of2"); !errors.Is(err, ErrBusy) {
		t.Errorf("same shard twice: %v", err)
	}
	if _, err := lockOut(out, ""); !errors.Is(err, ErrBusy) {
		t.Errorf("whole run beside shards: %v", err)
	}
	a.release()
	b.release()
	c, err := lockOut(out, "")
	if err != nil {
		t.Fatalf("whole run after the shards: %v", err)
	}
	if _, err := lockOut(out, ".shard1of2"); !errors.Is(err, ErrBusy) {
		t.Errorf("shard beside a whole run: %v", err)
	}
	c.release()
	if _, err := os.Stat(filepath.Join(out, LockFile)); err == nil {
		t.Error("whole run's lock file left behind")
	}
}
