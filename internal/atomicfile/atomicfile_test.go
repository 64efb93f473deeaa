package atomicfile

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
)

func TestWriteSuccessAndFailure(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.csv")
	if err := WriteBytes(p, []byte("a,b\n")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error {
		if _, err := w.Write([]byte("half")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("want wrapped boom, got %v", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "a,b\n" {
		t.Fatalf("failed write clobbered the file: %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

// TestSpecialFiles: devices and FIFOs are written through (never renamed
// over), and directories, sockets, dangling links and links to regular
// files are refused.
func TestSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	// /dev/null: written through, still a character device afterwards.
	if err := WriteBytes(os.DevNull, []byte("x")); err != nil {
		t.Fatalf("write %s: %v", os.DevNull, err)
	}
	if st, err := os.Lstat(os.DevNull); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v %v", os.DevNull, st.Mode(), err)
	}
	// A FIFO, reached through a symbolic link like /dev/stdout.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "stdout")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- string(b)
	}()
	if err := WriteBytes(link, []byte("through the pipe\n")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "through the pipe\n" {
		t.Errorf("FIFO reader got %q", s)
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link to the FIFO was replaced: %v", st.Mode())
	}
	// A link to a regular file (elsewhere: a link planted in an output
	// folder must not take a write outside it) is refused; the link and
	// its target stay as they were, and no temporary file is left.
	elsewhere := t.TempDir()
	real := filepath.Join(elsewhere, "real.csv")
	testfs.WriteFile(t, real, []byte("old"))
	ln := filepath.Join(dir, "ln.csv")
	testfs.Symlink(t, real, ln)
	if err := WriteBytes(ln, []byte("new")); !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), ln) {
		t.Errorf("write through a link to a file: got %v, want ErrSymlink naming %s", err, ln)
	}
	if b, _ := os.ReadFile(real); string(b) != "old" {
		t.Errorf("link target holds %q", b)
	}
	if st, _ := os.Lstat(ln); st.Mode()&os.ModeSymlink == 0 {
		t.Error("symbolic link replaced by a regular file")
	}
	for _, d := range []string{dir, elsewhere} {
		if m, _ := filepath.Glob(filepath.Join(d, ".*.tmp-*")); len(m) > 0 {
			t.Errorf("temporary files left: %v", m)
		}
	}
	// Refused: a directory, a dangling link, a socket.
	dangling := filepath.Join(dir, "dangling")
	testfs.Symlink(t, filepath.Join(dir, "nowhere"), dangling)
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, p := range []string{dir, sock} {
		if err := WriteBytes(p, []byte("x")); !errors.Is(err, ErrSpecial) {
			t.Errorf("%s: got %v, want ErrSpecial", p, err)
		}
	}
	if err := WriteBytes(dangling, []byte("x")); err == nil {
		t.Error("dangling symbolic link accepted")
	}
	if st, _ := os.Lstat(dangling); st.Mode()&os.ModeSymlink == 0 {
		t.Error("dangling link replaced")
	}
}

// TestCheck: Check gives Write's verdict on the path without writing it:
// a new or regular file in a writable folder and /dev/null pass; a link
// to a file, a dangling link, a folder and a missing folder do not; no
// temporary file is left.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.csv")
	testfs.WriteFile(t, file, []byte("x"))
	link, dangling := filepath.Join(dir, "l.csv"), filepath.Join(dir, "d.csv")
	testfs.Symlink(t, file, link)
	testfs.Symlink(t, filepath.Join(dir, "nowhere"), dangling)
	for _, p := range []string{filepath.Join(dir, "new.csv"), file, os.DevNull} {
		if err := Check(p); err != nil {
			t.Errorf("Check(%s): %v", p, err)
		}
	}
	for p, want := range map[string]error{link: ErrSymlink, dangling: ErrSpecial, dir: ErrSpecial,
		filepath.Join(dir, "missing", "m.csv"): os.ErrNotExist} {
		if err := Check(p); !errors.Is(err, want) || !strings.Contains(err.Error(), p) {
			t.Errorf("Check(%s): %v, want %v naming it", p, err, want)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Errorf("file changed: %q", b)
	}
}
