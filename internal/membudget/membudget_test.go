package membudget

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]uint64{
		"1073741824": 1 << 30, "8G": 8 << 30, "8g": 8 << 30, "512M": 512 << 20, "512MiB": 512 << 20,
		"1.5G": 3 << 29, "64K": 64 << 10, "2T": 2 << 40, " 100 ": 100, "3GB": 3 << 30,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1G", "lots", "1X", "NaN", "inf", "0.1"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

func TestCheckAndReserve(t *testing.T) {
	old := Limit()
	defer Set(old)
	Set(1000)
	if err := Check("small", 1000); err != nil {
		t.Fatal(err)
	}
	err := Check("pixel data of /x/y.dcm", 1001)
	var tb *TooBigError
	if !errors.Is(err, ErrTooBig) || !errors.As(err, &tb) || tb.Bytes != 1001 || tb.Limit != 1000 {
		t.Fatalf("Check over the budget: %v", err)
	}
	if !strings.Contains(err.Error(), "/x/y.dcm") || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("message does not name the file and the remedy: %v", err)
	}
	r1, err := Reserve("a", 600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Reserve("b", 500); !errors.Is(err, ErrTooBig) {
		t.Fatalf("second reservation past the budget: %v", err)
	}
	r1()
	r1() // a second call does nothing
	if InUse() != 0 {
		t.Fatalf("in use %d after release", InUse())
	}
	r2, err := Reserve("b", 500)
	if err != nil {
		t.Fatal(err)
	}
	r2()
	if Mul(1<<40, 1<<40) != ^uint64(0) || Mul(3, 4, 5) != 60 || Mul(5, -1) != 0 {
		t.Error("Mul does not saturate or count negatives as 0")
	}
}

// TestDefaultAndEnv runs a child process so that the environment variable
// is read at start-up as the CLI and batch children read it.
func TestDefaultAndEnv(t *testing.T) {
	if os.Getenv("MEMBUDGET_CHILD") == "1" {
		if err := EnvError(); err != nil {
			fmt.Print("ERR " + err.Error()) // the parent reads it; a lost write fails its check
			return
		}
		fmt.Print(Format(Limit()))
		return
	}
	if d := Default(); d < 64<<20 {
		t.Fatalf("default budget %d bytes", d)
	}
	t.Logf("default budget on this machine: %s (half of %s)", Format(Default()), Format(machineMemory()))
	for env, want := range map[string]string{"3G": "3.0 GiB", "1536M": "1.5 GiB", "bad": "ERR"} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestDefaultAndEnv$")
		cmd.Env = append(os.Environ(), "MEMBUDGET_CHILD=1", EnvVar+"="+env)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(out), want) {
			t.Errorf("%s=%s: %q, want %q", EnvVar, env, out, want)
		}
	}
}

// TestFormatUnambiguous: a request just over the budget rounds to the
// budget's own size, so the message gives both exact byte counts then (and
// only then); a size just under a unit prints as 1.0 of the next, not 1024.0.
func TestFormatUnambiguous(t *testing.T) {
	for b, want := range map[uint64]string{
		1000: "1000 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1<<20 - 1: "1.0 MiB",
		1<<30 - 1: "1.0 GiB", 1<<30 - 50<<10: "1.0 GiB", 1<<30 - 60<<10: "1023.9 MiB", 1<<30 - 52<<20: "972.0 MiB", 3 << 30: "3.0 GiB",
		1<<62 - 1: "4.0 EiB", ^uint64(0): "16.0 EiB",
	} {
		if got := Format(b); got != want {
			t.Errorf("Format(%d) = %q, want %q", b, got, want)
		}
	}
	old := Limit()
	defer Set(old)
	Set(1 << 30)
	for _, tc := range []struct {
		bytes uint64
		want  string
	}{
		{1<<30 + 1, "x: 1.0 GiB (1073741825 bytes) exceeds the memory budget of 1.0 GiB (1073741824 bytes)"},
		{1<<30 + 40<<20, "x: 1.0 GiB (1115684864 bytes) exceeds the memory budget of 1.0 GiB (1073741824 bytes)"},
		{3 << 30, "x: 3.0 GiB exceeds the memory budget of 1.0 GiB ("},
	} {
		err := Check("x", tc.bytes)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Check(%d): %v\nwant it to start %q", tc.bytes, err, tc.want)
		}
	}
	// Reserve: what is in use plus the request just over the budget
	release, err := Reserve("a", 1<<29)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = Reserve("b", 1<<29+1)
	if want := "b: 512.0 MiB (536870913 bytes) with 512.0 MiB (536870912 bytes) already in use exceeds the memory budget of 1.0 GiB (1073741824 bytes)"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Reserve just over: %v\nwant it to start %q", err, want)
	}
}
