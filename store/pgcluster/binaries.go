package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Binaries are the PostgreSQL server programs a Cluster runs. Initdb and
// Postgres are always set; PgCtl is set when the directory holds it (nothing
// in this package needs it, but operators reach for it).
type Binaries struct {
	Dir      string // the directory all of them were found in
	Initdb   string
	PgCtl    string
	Postgres string
}

// versionedRoots are the globs, after PATH, where distributions install
// PostgreSQL without putting it on PATH: Debian/Ubuntu
// (/usr/lib/postgresql/15/bin) and the PGDG RPMs (/usr/pgsql-15/bin).
var versionedRoots = []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"}

// SearchDirs returns the directories FindBinaries looks in, in order: each
// entry of pathList (a PATH-style list), then the versioned install
// directories of Debian and the PGDG RPMs, newest major version first.
func SearchDirs(pathList string) []string {
	dirs := filepath.SplitList(pathList)
	for _, glob := range versionedRoots {
		matches, _ := filepath.Glob(glob)
		sort.Slice(matches, func(i, j int) bool {
			return versionLess(majorFromPath(matches[j]), majorFromPath(matches[i]))
		})
		dirs = append(dirs, matches...)
	}
	return dirs
}

var digitsRe = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// majorFromPath extracts "15" from /usr/lib/postgresql/15/bin or "9.6"
// from /usr/pgsql-9.6/bin.
func majorFromPath(dir string) string {
	return digitsRe.FindString(filepath.Base(filepath.Dir(dir)))
}

// versionLess orders "9.6" < "10" < "15" numerically, not as strings.
func versionLess(a, b string) bool {
	fa, _ := strconv.ParseFloat(a, 64)
	fb, _ := strconv.ParseFloat(b, 64)
	return fa < fb
}

// FindBinaries locates initdb and postgres: first on PATH, then in
// /usr/lib/postgresql/*/bin and /usr/pgsql-*/bin, newest version first. Both
// must sit in the same directory, so a stray initdb of one version is never
// paired with the server of another.
func FindBinaries() (Binaries, error) {
	return FindBinariesIn(SearchDirs(os.Getenv("PATH")))
}

// ErrNoBinaries is wrapped by the error FindBinariesIn returns when no
// directory holds the PostgreSQL server programs.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found")

// FindBinariesIn is FindBinaries over an explicit list of directories, in
// order of preference.
func FindBinariesIn(dirs []string) (Binaries, error) {
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		initdb := filepath.Join(dir, "initdb")
		postgres := filepath.Join(dir, "postgres")
		if !isExecutable(initdb) || !isExecutable(postgres) {
			continue
		}
		b := Binaries{Dir: dir, Initdb: initdb, Postgres: postgres}
		if pgCtl := filepath.Join(dir, "pg_ctl"); isExecutable(pgCtl) {
			b.PgCtl = pgCtl
		}
		return b, nil
	}
	return Binaries{}, fmt.Errorf("%w (searched %s). "+
		"Palisade runs its own private PostgreSQL when no database is configured: "+
		"install PostgreSQL on this machine (e.g. `apt-get install postgresql` on Debian/Ubuntu, "+
		"`dnf install postgresql-server` on Fedora/RHEL), or point Palisade at an existing server "+
		"by setting database.url in the config file or the PALISADE_DATABASE_URL environment variable",
		ErrNoBinaries, strings.Join(nonEmpty(dirs), ", "))
}

func nonEmpty(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return []string{"no directories"}
	}
	return out
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

var serverVersionRe = regexp.MustCompile(`\(PostgreSQL\) ([0-9]+)(\.[0-9]+)?`)

// MajorVersion runs `postgres --version` and returns the major version as
// PostgreSQL writes it in a data directory's PG_VERSION file ("15", or
// "9.6" for the old scheme).
func (b Binaries) MajorVersion() (string, error) {
	// --version is answered before postgres' refusal to run as root, so
	// this is safe to run as any user.
	out, err := exec.Command(b.Postgres, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("pgcluster: running %s --version: %w", b.Postgres, err)
	}
	m := serverVersionRe.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("pgcluster: cannot read a version from %s --version output %q", b.Postgres, strings.TrimSpace(string(out)))
	}
	major := m[1]
	if n, _ := strconv.Atoi(major); n < 10 && m[2] != "" {
		major += m[2]
	}
	return major, nil
}
