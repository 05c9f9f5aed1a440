package epoll

import (
	"net"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Set is an epoll set with a wake-up.
type Set struct {
	fd   int
	wake int // an eventfd in the set, id Woken

	mu     sync.Mutex
	closed bool // fd and wake are closed: Wake writes nothing
}

// New creates a set.
func New() (*Set, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	s := &Set{fd: fd, wake: wake}
	if err := s.Add(wake, unix.EPOLLIN, Woken); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Event builds an event of events for the registration id.
func Event(events uint32, id uint64) unix.EpollEvent {
	return unix.EpollEvent{Events: events, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

// ID is the registration id an event carries.
func ID(ev *unix.EpollEvent) uint64 { return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32 }

// Add registers fd for events, as id.
func (s *Set) Add(fd int, events uint32, id uint64) error {
	ev := Event(events, id)
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(s.fd, unix.EPOLL_CTL_ADD, fd, &ev))
}

// Mod changes fd's registration: its events and id.
func (s *Set) Mod(fd int, events uint32, id uint64) error {
	ev := Event(events, id)
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(s.fd, unix.EPOLL_CTL_MOD, fd, &ev))
}

// Del takes fd out of the set.
func (s *Set) Del(fd int) error {
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(s.fd, unix.EPOLL_CTL_DEL, fd, nil))
}

// Wait fills events with what is ready, waiting up to msec milliseconds (-1: until something
// is). An interrupted wait returns 0 events and no error.
func (s *Set) Wait(events []unix.EpollEvent, msec int) (int, error) {
	n, err := unix.EpollWait(s.fd, events, msec)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	return n, nil
}

// Wake makes a Wait return with an event of id Woken, now or at its next call, until Drain.
// Once the set is closed it does nothing: the wake-up's number may be another descriptor's by
// then.
func (s *Set) Wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		one := [8]byte{1} // an eventfd adds a native-endian uint64; any non-zero value wakes
		_, _ = unix.Write(s.wake, one[:])
	}
}

// Drain takes the wake-ups made so far, so the next Wait waits again.
func (s *Set) Drain() {
	var buf [8]byte
	_, _ = unix.Read(s.wake, buf[:])
}

// Close closes the set and its wake-up; the descriptors still registered stay open.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		_ = unix.Close(s.wake)
		_ = unix.Close(s.fd)
	}
}

// Detach takes tc's socket out of Go's poller for a set: it returns a descriptor of its own (a
// duplicate, close-on-exec, non-blocking) and closes tc.
func Detach(tc *net.TCPConn) (int, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl", derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	_ = tc.Close()
	return fd, nil
}

// Poll fills events with what is ready now, without waiting. It is made without telling the
// Go scheduler (a raw system call: it never blocks), so a loop that polls before it waits
// keeps its P instead of having it handed off as a blocking system call's is.
func (s *Set) Poll(events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(s.fd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	switch errno {
	case 0:
		return int(n), nil
	case unix.EINTR:
		return 0, nil
	}
	return 0, os.NewSyscallError("epoll_pwait", errno)
}

// Read reads from a non-blocking descriptor with a raw system call (as Poll: it never
// blocks, so the scheduler is not told). n is -1 with an error, 0 at the end of the stream.
func Read(fd int, p []byte) (n int, err error) { return rawIO(unix.SYS_READ, fd, p) }

// Write writes to a non-blocking descriptor with a raw system call (as Read).
func Write(fd int, p []byte) (n int, err error) { return rawIO(unix.SYS_WRITE, fd, p) }

func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	r, _, errno := unix.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}
