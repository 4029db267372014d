package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cgroup v2 has no devices controller: the policy is an eBPF program
// (devices_bpf.go) attached to the container's cgroup with
// BPF_F_ALLOW_MULTI, so that programs of the ancestors keep running too and
// a process in any cgroup below gets the same checks. The attachment keeps
// the program alive; it goes away with the cgroup.

// bpfLicense is the program's license string (the kernel's MODULE_LICENSE
// format); the program calls no helpers, GPL-only or other.
const bpfLicense = "Apache-2.0"

// bpfProgName names the program for bpftool and friends.
const bpfProgName = "sdocker_devices"

// bpfMaxQuery is the most programs BPF_PROG_QUERY is asked for at first
// (the kernel allows 64 per cgroup and attach type).
const bpfMaxQuery = 64

// The parts of union bpf_attr that the commands below use.
type (
	bpfProgLoadAttr struct {
		progType           uint32
		insnCnt            uint32
		insns              uint64 // pointer
		license            uint64 // pointer
		logLevel           uint32
		logSize            uint32
		logBuf             uint64 // pointer
		kernVersion        uint32
		progFlags          uint32
		progName           [16]byte
		progIfindex        uint32
		expectedAttachType uint32
	}
	bpfAttachAttr struct {
		targetFd     uint32
		attachBpfFd  uint32
		attachType   uint32
		attachFlags  uint32
		replaceBpfFd uint32
	}
	bpfQueryAttr struct {
		targetFd    uint32
		attachType  uint32
		queryFlags  uint32
		attachFlags uint32
		progIDs     uint64 // pointer
		progCnt     uint32
		_           uint32
	}
	bpfGetIDAttr struct {
		id        uint32
		nextID    uint32
		openFlags uint32
	}
)

// bpf is the bpf(2) system call; attr points to one of the structs above.
func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// loadDevicesProgram loads prog and returns its fd. When the verifier
// refuses it, the error carries the verifier's log.
func loadDevicesProgram(prog []bpfInsn) (int, error) {
	code := encodeProgram(prog)
	license := append([]byte(bpfLicense), 0)
	load := func(logBuf []byte) (int, error) {
		attr := bpfProgLoadAttr{
			progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
			insnCnt:  uint32(len(prog)),
			insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
			license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		}
		copy(attr.progName[:], bpfProgName)
		if len(logBuf) > 0 {
			attr.logLevel = 1
			attr.logSize = uint32(len(logBuf))
			attr.logBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
		}
		fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		// A signal (Go's preemption) interrupting the verifier gives
		// EAGAIN: try again, as libbpf does.
		for i := 0; i < 5 && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)); i++ {
			fd, err = bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		}
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		runtime.KeepAlive(logBuf)
		return fd, err
	}
	fd, err := load(nil)
	if err == nil {
		unix.CloseOnExec(fd)
		return fd, nil
	}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL) { // the verifier: ask it why
		logBuf := make([]byte, 64*1024)
		if fd, err2 := load(logBuf); err2 == nil { // should not happen
			unix.CloseOnExec(fd)
			return fd, nil
		}
		if log := strings.TrimSpace(string(logBuf[:max(0, bytes.IndexByte(logBuf, 0))])); log != "" {
			return -1, fmt.Errorf("load device filter (eBPF, %d instructions): %w; verifier log:\n%s", len(prog), err, log)
		}
	}
	return -1, fmt.Errorf("load device filter (eBPF, %d instructions): %w", len(prog), err)
}

// attachedDevicesPrograms lists the ids of the device programs attached
// to the cgroup cgFD itself (not those inherited from its ancestors).
func attachedDevicesPrograms(cgFD int) ([]uint32, error) {
	ids := make([]uint32, bpfMaxQuery)
	for {
		attr := bpfQueryAttr{
			targetFd:   uint32(cgFD),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(ids)
		if errors.Is(err, unix.ENOSPC) && int(attr.progCnt) > len(ids) { // more than asked for
			ids = make([]uint32, attr.progCnt)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("query device filters (BPF_PROG_QUERY): %w", err)
		}
		return ids[:attr.progCnt], nil
	}
}

// bpfProgFD opens the program with the given id.
func bpfProgFD(id uint32) (int, error) {
	attr := bpfGetIDAttr{id: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}

func bpfAttach(cmd, cgFD, progFD int, flags uint32) error {
	attr := bpfAttachAttr{
		targetFd:    uint32(cgFD),
		attachBpfFd: uint32(progFD),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: flags,
	}
	_, err := bpf(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

// setDevicesV2 makes p the device policy of the cgroup dir: it attaches a
// new program, then detaches those attached before (while both are there
// an access needs both to allow it, so nothing is allowed that neither
// policy allows). A policy that allows everything needs no program.
func setDevicesV2(dir string, p devicePolicy) error {
	cgFD, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(cgFD)
	old, err := attachedDevicesPrograms(cgFD)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if !p.allowsAll() {
		progFD, err := loadDevicesProgram(devicesProgram(p))
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		err = bpfAttach(unix.BPF_PROG_ATTACH, cgFD, progFD, unix.BPF_F_ALLOW_MULTI)
		unix.Close(progFD) // the attachment holds it now
		if err != nil {
			return fmt.Errorf("attach device filter to %s (BPF_PROG_ATTACH): %w", dir, err)
		}
	}
	for _, id := range old {
		progFD, err := bpfProgFD(id)
		if errors.Is(err, unix.ENOENT) {
			continue // gone meanwhile
		}
		if err != nil {
			return fmt.Errorf("open device filter %d of %s (BPF_PROG_GET_FD_BY_ID): %w", id, dir, err)
		}
		err = bpfAttach(unix.BPF_PROG_DETACH, cgFD, progFD, 0)
		unix.Close(progFD)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach device filter %d from %s (BPF_PROG_DETACH): %w", id, dir, err)
		}
	}
	return nil
}
