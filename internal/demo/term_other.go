//go:build !unix

package demo

import "io"

// termSize returns 0, 0: the size is not known on this platform, and the
// view is drawn unclipped.
func termSize(io.Writer) (cols, rows int) { return 0, 0 }
