//go:build lungctl_testhooks

package main

// Test-only crash hooks, compiled in only with -tags lungctl_testhooks (the
// cmd tests build the binary so): LUNGCTL_TEST_CRASH=id=mode[,id=mode...]
// makes the scan with that id, just before it is processed, die or stall:
//
//	fatal  a Go runtime fatal error (stack overflow)
//	exit2  os.Exit(2)
//	kill   SIGKILL to itself (what the kernel's OOM killer does)
//	panic  a panic in a goroutine (unrecoverable)
//	oom    allocate until the address-space limit stops it
//	sleep  sleep 3 s, then go on (to interrupt a run mid-way)

import (
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

func init() { scanHook = testCrash }

func testCrash(id string) {
	for _, kv := range strings.Split(os.Getenv("LUNGCTL_TEST_CRASH"), ",") {
		k, mode, ok := strings.Cut(kv, "=")
		if !ok || k != id {
			continue
		}
		switch mode {
		case "fatal":
			debug.SetMaxStack(1 << 16)
			deepen(0)
		case "exit2":
			os.Exit(2)
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		case "panic":
			go func() { panic("test hook: panic in a goroutine") }()
			time.Sleep(time.Minute)
		case "oom":
			var keep [][]byte
			for {
				keep = append(keep, make([]byte, 256<<20))
			}
		case "sleep":
			time.Sleep(3 * time.Second)
		}
	}
}

//go:noinline
func deepen(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	return deepen(n+1) + int(pad[0])
}
