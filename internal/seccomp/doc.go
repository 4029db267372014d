// Package seccomp compiles an OCI seccomp configuration (runtime-spec
// config-linux.md, "Seccomp") into a classic-BPF seccomp filter and installs
// it, without cgo or libseccomp.
//
// # Semantics
//
// The filter returns, for a system call:
//
//   - the action of the first syscalls[] entry (in configuration order) that
//     names the call and whose args conditions all hold (AND); entries for the
//     same call are tried in order, first match wins;
//   - otherwise defaultAction.
//
// Argument conditions compare the 64-bit seccomp_data.args[i] unsigned, on
// its two 32-bit halves (x86_64 and x32). For i386 only the low 32 bits are
// compared (against the low 32 bits of value), as libseccomp does: the kernel
// itself truncates i386 arguments to 32 bits, while seccomp_data may carry
// stale upper halves (a 64-bit process can use int 0x80). SCMP_CMP_MASKED_EQ
// is (arg & value) == (valueTwo & value), libseccomp's reading.
//
// Syscall names unknown on an architecture are skipped for that architecture
// (as runc and libseccomp do); a name unknown everywhere is not an error.
//
// # Architectures
//
// The native architecture (x86_64) is always filtered. SCMP_ARCH_X86 adds the
// i386 ABI, SCMP_ARCH_X32 the x32 ABI. x32 calls arrive with arch
// AUDIT_ARCH_X86_64 and nr|0x40000000 (__X32_SYSCALL_BIT), so under
// AUDIT_ARCH_X86_64 any nr >= 0x40000000 is treated as x32: matched against
// the x32 rules and defaultAction when SCMP_ARCH_X32 is listed, else answered
// with the "bad arch" action. Without that, a default-allow profile that
// denies mkdir could be bypassed with the x32 mkdir. Any other arch value
// (i386 when SCMP_ARCH_X86 is not listed, or anything else) gets the bad arch
// action too. The bad arch action is SECCOMP_RET_KILL_THREAD, libseccomp's
// default (SCMP_ACT_KILL), which runc does not change. Other architectures a
// configuration lists (SCMP_ARCH_AARCH64, ...) cannot occur on an x86 kernel
// and are accepted and ignored.
//
// On i386, socket and SysV IPC calls may also arrive multiplexed through
// socketcall(2) and ipc(2). As libseccomp does, an entry naming such a call
// (e.g. "socket") also yields an entry for the multiplexer matching the call
// number in arg0 (ipc: arg0 & 0xffff). The real arguments of a multiplexed
// call live in user memory, out of the filter's reach, so that derived entry
// drops the entry's args conditions: it matches every socketcall(SYS_SOCKET).
//
// # Program layout
//
//	ld  [arch]
//	jeq AUDIT_ARCH_X86_64 -> x86_64
//	jeq AUDIT_ARCH_I386   -> i386       (if SCMP_ARCH_X86)
//	ret <bad arch>
//	x86_64: ld [nr]; binary search over nr ranges (x86_64 below 0x40000000,
//	        x32 or bad arch above)
//	i386:   ld [nr]; binary search over nr ranges
//
// The syscall-number space of each arch is cut into ranges of consecutive
// numbers that share the same rule list; gaps get defaultAction. A balanced
// tree of jge splits the ranges, so a call costs about log2(ranges)
// comparisons (8-9 for Docker's default profile), and a leaf holds the rule
// list inline: each rule's conditions jump to the next rule on failure, and a
// rule whose conditions hold returns its action; the last one falls to
// defaultAction. Classic-BPF conditional jumps reach at most 255
// instructions: the assembler resolves symbolic labels and, where a jt/jf
// target is farther, inserts a trampoline right after the jump (a copy of the
// target when it is a ret, else a BPF_JA with a 32-bit offset), repeating
// until every offset fits. The program must stay within BPF_MAXINSNS (4096)
// instructions or Compile fails.
//
// # Installing
//
// Install applies the filter to the calling thread only, with
// seccomp(SECCOMP_SET_MODE_FILTER), unless the configuration asks for
// SECCOMP_FILTER_FLAG_TSYNC. The kernel refuses it unless the thread has
// no_new_privs set (prctl(PR_SET_NO_NEW_PRIVS)) or holds CAP_SYS_ADMIN in its
// user namespace. A runtime calls it on the locked OS thread that will call
// execve, as late as possible: from then on every system call that thread
// makes, including the Go runtime's own, is filtered, so nothing the profile
// denies may run between Install and execve. Install locks the calling
// goroutine to its OS thread and never unlocks it, so the filtered thread is
// never handed back to the Go scheduler (it dies with the goroutine).
//
// SCMP_ACT_NOTIFY (and listenerPath) are refused as not supported.
package seccomp

//go:generate go run mktables.go
