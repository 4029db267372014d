#include "textflag.h"

// usernsEntry is the init binary's entry point (see userns.go). At entry
// the stack holds argc, then argv. With exactly three arguments and a
// decimal argv[2] (entryJoins: bits 0-15 the user namespace's descriptor
// plus one, bits 16-31 the time namespace's, 0 for none) it calls
// setns(time, CLONE_NEWTIME), then setns(user, CLONE_NEWUSER),
// setresgid(0, 0, 0) and setresuid(0, 0, 0), records the outcome in
// usernsJoin (and the failing call in usernsFailedCall), then starts the
// Go runtime.
TEXT ·usernsEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	0(SP), AX
	CMPQ	AX, $3
	JNE	start
	MOVQ	24(SP), SI
	XORQ	DI, DI
	MOVBQZX	0(SI), BX
	CMPQ	BX, $0
	JEQ	start
digit:
	MOVBQZX	0(SI), BX
	CMPQ	BX, $0
	JEQ	join
	SUBQ	$48, BX
	CMPQ	BX, $9
	JHI	start
	IMULQ	$10, DI
	ADDQ	BX, DI
	CMPQ	DI, $0x7fffffff
	JHI	start
	INCQ	SI
	JMP	digit
join:
	MOVQ	DI, R8
	XORQ	AX, AX
	MOVQ	$0, ·usernsFailedCall(SB)
	SHRQ	$16, DI
	JEQ	user
	DECQ	DI
	MOVQ	$0x80, SI // CLONE_NEWTIME
	MOVQ	$308, AX // setns
	SYSCALL
	CMPQ	AX, $0
	JNE	done
user:
	MOVQ	$1, ·usernsFailedCall(SB)
	MOVQ	R8, DI
	ANDQ	$0xffff, DI
	JEQ	done
	DECQ	DI
	MOVQ	$0x10000000, SI // CLONE_NEWUSER
	MOVQ	$308, AX // setns
	SYSCALL
	CMPQ	AX, $0
	JNE	done
	MOVQ	$2, ·usernsFailedCall(SB)
	XORQ	DI, DI
	XORQ	SI, SI
	XORQ	DX, DX
	MOVQ	$119, AX // setresgid
	SYSCALL
	CMPQ	AX, $0
	JNE	done
	MOVQ	$3, ·usernsFailedCall(SB)
	XORQ	DI, DI
	XORQ	SI, SI
	XORQ	DX, DX
	MOVQ	$117, AX // setresuid
	SYSCALL
done:
	MOVQ	AX, ·usernsJoin(SB)
start:
	JMP	_rt0_amd64_linux(SB)
