#include "textflag.h"

// usernsEntry is the init binary's entry point (see userns.go and
// userns_amd64.s, which does the same).
TEXT ·usernsEntry(SB),NOSPLIT|NOFRAME,$0
	MOVD	0(RSP), R0
	CMP	$3, R0
	BNE	start
	MOVD	24(RSP), R1
	MOVD	$0, R2
	MOVBU	(R1), R3
	CBZ	R3, start
digit:
	MOVBU	(R1), R3
	CBZ	R3, join
	SUB	$48, R3, R3
	CMP	$9, R3
	BHI	start
	MOVD	$10, R4
	MUL	R4, R2, R2
	ADD	R3, R2, R2
	MOVD	$0x7fffffff, R4
	CMP	R4, R2
	BHI	start
	ADD	$1, R1, R1
	B	digit
join:
	MOVD	R2, R6
	MOVD	$·usernsFailedCall(SB), R5
	MOVD	$0, R4
	MOVD	R4, (R5)
	MOVD	$0, R0
	LSR	$16, R6, R7
	CBZ	R7, user
	SUB	$1, R7, R0
	MOVD	$0x80, R1 // CLONE_NEWTIME
	MOVD	$268, R8 // setns
	SVC
	CBNZ	R0, done
user:
	MOVD	$1, R4
	MOVD	R4, (R5)
	AND	$0xffff, R6, R7
	CBZ	R7, done
	SUB	$1, R7, R0
	MOVD	$0x10000000, R1 // CLONE_NEWUSER
	MOVD	$268, R8 // setns
	SVC
	CBNZ	R0, done
	MOVD	$2, R4
	MOVD	R4, (R5)
	MOVD	$0, R0
	MOVD	$0, R1
	MOVD	$0, R2
	MOVD	$149, R8 // setresgid
	SVC
	CBNZ	R0, done
	MOVD	$3, R4
	MOVD	R4, (R5)
	MOVD	$0, R0
	MOVD	$0, R1
	MOVD	$0, R2
	MOVD	$147, R8 // setresuid
	SVC
done:
	MOVD	$·usernsJoin(SB), R5
	MOVD	R0, (R5)
start:
	B	_rt0_arm64_linux(SB)
