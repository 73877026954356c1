package pgcluster

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the OS user the PostgreSQL processes run as. PostgreSQL refuses
// to run as root, so when Palisade runs as root (a typical appliance or
// container) the server runs as the "postgres" system user the distribution
// package creates; otherwise it runs as the current user and cred is nil.
type account struct {
	name string
	uid  int
	gid  int
	cred *syscall.Credential // nil: run as ourselves
}

// serverAccount picks the account for the current process.
func serverAccount() (account, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		name := "current user"
		if err == nil {
			name = u.Username
		}
		return account{name: name, uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return account{}, fmt.Errorf("pgcluster: running as root, and PostgreSQL refuses to run as root, "+
			"but there is no \"postgres\" system user to run it as (%v): install the postgresql package "+
			"(it creates that user), create the user, or run palisade as an unprivileged user", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			n, err := strconv.Atoi(id)
			if err == nil {
				groups = append(groups, uint32(n))
			}
		}
	}
	return account{
		name: u.Username,
		uid:  uid,
		gid:  gid,
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups},
	}, nil
}

// chown gives path to the server account when we run as root; otherwise the
// files are ours already.
func (a account) chown(path string) error {
	if a.cred == nil {
		return nil
	}
	return os.Chown(path, a.uid, a.gid)
}

// checkReachable reports the first ancestor of dir the server account cannot
// traverse. Without it, initdb fails with a bare "permission denied"; a
// common cause is a data directory under /root or a 0700 temp dir.
func (a account) checkReachable(dir string) error {
	if a.cred == nil {
		return nil
	}
	groups := map[uint32]bool{uint32(a.gid): true}
	for _, g := range a.cred.Groups {
		groups[g] = true
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok {
			perm := fi.Mode().Perm()
			var can bool
			switch {
			case int(st.Uid) == a.uid:
				can = perm&0o100 != 0
			case groups[st.Gid]:
				can = perm&0o010 != 0
			default:
				can = perm&0o001 != 0
			}
			if !can {
				return fmt.Errorf("pgcluster: PostgreSQL runs as user %q, which cannot enter %s (mode %v) on the way to the data directory %s: "+
					"choose a data directory that user can reach, or `chmod o+x %s`", a.name, p, perm, dir, p)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
