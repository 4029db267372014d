#include "textflag.h"

// usernsEntry is the init binary's entry point (see userns.go). At entry
// the stack holds argc, then argv. With exactly three arguments and a
// decimal argv[2] it calls setns(argv[2], CLONE_NEWUSER), setresgid(0, 0,
// 0) and setresuid(0, 0, 0), records the outcome in usernsJoin (and the
// failing call in usernsFailedCall), then starts the Go runtime.
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
	MOVQ	$0, ·usernsFailedCall(SB)
	MOVQ	$0x10000000, SI
	MOVQ	$308, AX // setns
	SYSCALL
	CMPQ	AX, $0
	JNE	done
	MOVQ	$1, ·usernsFailedCall(SB)
	XORQ	DI, DI
	XORQ	SI, SI
	XORQ	DX, DX
	MOVQ	$119, AX // setresgid
	SYSCALL
	CMPQ	AX, $0
	JNE	done
	MOVQ	$2, ·usernsFailedCall(SB)
	XORQ	DI, DI
	XORQ	SI, SI
	XORQ	DX, DX
	MOVQ	$117, AX // setresuid
	SYSCALL
done:
	MOVQ	AX, ·usernsJoin(SB)
start:
	JMP	_rt0_amd64_linux(SB)
