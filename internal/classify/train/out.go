package train

import (
	"fmt"

	"github.com/lungctl/lungctl/internal/atomicfile"
)

// checkOut checks, before any training, that classify.Model.Save can write
// the model to path (atomicfile.Check: absent or a regular file in a folder
// where a file can be created, or a character device or FIFO such as
// /dev/null; a folder, a symbolic link or another kind of file is refused
// with atomicfile.ErrSpecial or ErrSymlink). The folder is not created:
// the caller does that (lungctl train does).
func checkOut(path string) error {
	if err := atomicfile.Check(path); err != nil {
		return fmt.Errorf("train: output: %w", err)
	}
	return nil
}
