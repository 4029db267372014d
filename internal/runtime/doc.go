// Package runtime turns an OCI runtime spec plus a root filesystem into a
// running container, and enters running containers.
//
// The parent side (Start, Exec) lives in this process; the in-namespace side
// (Main) runs in a re-executed copy of this binary, recognised by its argv[0]
// before any command line parsing. The two talk over a pipe (the config, as
// JSON) and a unix socket (a pty master, or an error before execve); the
// socket is close-on-exec in the child, so end-of-file means the user's
// program replaced the runtime.
package runtime
