//go:build amd64 || arm64

package launch

// usernsEntry is the process entry point of the init binary (userns_*.s).
// It is never called from Go.
func usernsEntry()

var _ = usernsEntry // kept for the linker's -E
