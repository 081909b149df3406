//go:build linux

package agent

import (
	"errors"
	"net"
	"syscall"
)

// socketPeer returns the credentials the kernel recorded for the process that
// connected to a Unix socket (SO_PEERCRED): they cannot be forged by the caller.
func socketPeer(c net.Conn) (sockOwner, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return sockOwner{}, errors.New("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return sockOwner{}, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return sockOwner{}, err
	}
	if serr != nil {
		return sockOwner{}, serr
	}
	return sockOwner{pid: cred.Pid, uid: cred.Uid, gid: cred.Gid, hasGID: true}, nil
}
