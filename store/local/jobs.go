package local

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// tagJobs keys hold scheduled jobs (the outbound delivery queue). Under one
// tag, per store name:
//
//	'j' len(name):1 name 'h' len(host):1 host due:8 id   job: attempts:4 payload
//	'j' len(name):1 name 'i' id                          id index: due:8 len(host):1 host
//
// Jobs are grouped by destination host, then ordered by due time, so a host
// that is held (unavailable, at its concurrency cap) is skipped with no
// reads, and each host's scan starts at a remembered lower bound instead of
// stepping over the point tombstones that finished jobs leave behind.
const tagJobs = 'j'

const (
	jobsSubHost = 'h'
	jobsSubID   = 'i'
	maxHostLen  = 255
)

// ErrNoJob is wrapped by Reschedule when the id names no pending job (it was
// finished, or never put).
var ErrNoJob = errors.New("no such job")

// JobRecord is one scheduled job.
type JobRecord struct {
	// ID is chosen by the caller, 1 to 4096 bytes, unique within the store.
	ID string
	// Host groups jobs (the destination host); 1 to 255 bytes.
	Host string
	// Due is when the job should run next. Stored with nanosecond
	// precision; times before 1970 are stored as 1970.
	Due time.Time
	// Attempts counts the runs so far; the store only keeps it.
	Attempts int
	// Payload is opaque. Due returns a fresh copy the caller owns.
	Payload []byte
}

// Jobs is a durable store of scheduled jobs, keyed by host and due time. It
// is safe for concurrent use.
//
// Due leases the jobs it returns (in memory only): they are not returned
// again until the caller ends the lease with Done, Reschedule or Release.
// Leases do not survive a restart, so a job whose run was interrupted by a
// crash is simply due again: a job runs at least once, not exactly once.
//
// Every write is committed synced (unless Options.NoSync): once Put,
// Reschedule or Done returned nil, a crash does not undo it.
type Jobs struct {
	db     *DB
	name   string
	prefix []byte // 'j' len name

	stripes [256]sync.Mutex // per-id: serialises read-modify-write of one job
	seed    maphash.Seed

	dueMu sync.Mutex // serialises Due, so two calls never lease one job twice

	mu      sync.Mutex
	hosts   map[string]*jobHost
	leased  map[string]jobLease
	pending int64
}

// jobHost is the in-memory summary of one host's jobs.
type jobHost struct {
	pending int64
	// lo: no live, un-leased job of this host is due before lo (unix ns).
	// Put, Reschedule and Release lower it; Due raises it past what it saw.
	lo uint64
}

type jobLease struct {
	host string
	due  uint64
}

var jobStores sync.Map // *DB → *sync.Map name → *Jobs (keeps DB's layout untouched)

// Jobs returns the job store with the given name (1 to 255 bytes), loading
// its in-memory summary (a count and a lower bound per host, read from the
// id index) on first use. Later calls with the same name return the same
// *Jobs. It is usable until the DB is closed.
func (db *DB) Jobs(name string) (*Jobs, error) {
	if err := checkName("jobs", name); err != nil {
		return nil, err
	}
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	m, _ := jobStores.LoadOrStore(db, &sync.Map{})
	stores := m.(*sync.Map)
	if j, ok := stores.Load(name); ok {
		return j.(*Jobs), nil
	}
	db.mu.Lock() // one loader at a time; held only on first use of a name
	defer db.mu.Unlock()
	if j, ok := stores.Load(name); ok {
		return j.(*Jobs), nil
	}
	j := &Jobs{
		db:     db,
		name:   name,
		prefix: appendName([]byte{tagJobs}, name),
		seed:   maphash.MakeSeed(),
		hosts:  map[string]*jobHost{},
		leased: map[string]jobLease{},
	}
	if err := j.load(); err != nil {
		return nil, fmt.Errorf("local: load jobs %q: %w", name, err)
	}
	stores.Store(name, j)
	return j, nil
}

func (j *Jobs) load() error {
	p := j.idPrefix()
	it, err := j.db.pdb.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		due, host, err := decodeJobIndex(it.Value())
		if err != nil {
			it.Close()
			return err
		}
		h := j.hosts[host]
		if h == nil {
			h = &jobHost{lo: due}
			j.hosts[host] = h
		}
		h.pending++
		h.lo = min(h.lo, due)
		j.pending++
	}
	return it.Close()
}

// Name returns the store's name.
func (j *Jobs) Name() string { return j.name }

func (j *Jobs) idPrefix() []byte { return append(append([]byte(nil), j.prefix...), jobsSubID) }

func (j *Jobs) idKey(id string) []byte {
	b := make([]byte, 0, len(j.prefix)+1+len(id))
	b = append(append(b, j.prefix...), jobsSubID)
	return append(b, id...)
}

func (j *Jobs) hostPrefix(host string) []byte {
	b := make([]byte, 0, len(j.prefix)+2+len(host)+8)
	b = append(append(b, j.prefix...), jobsSubHost)
	return appendName(b, host)
}

func (j *Jobs) dueKey(host string, due uint64, id string) []byte {
	b := j.hostPrefix(host)
	b = binary.BigEndian.AppendUint64(b, due)
	return append(b, id...)
}

func jobIndexValue(due uint64, host string) []byte {
	v := make([]byte, 0, 9+len(host))
	v = binary.BigEndian.AppendUint64(v, due)
	return appendName(v, host)
}

// decodeJobIndex returns the due time and host of an id index value; host
// aliases v.
func decodeJobIndex(v []byte) (uint64, string, error) {
	if len(v) < 9 || int(v[8]) != len(v)-9 {
		return 0, "", fmt.Errorf("job index value of %d bytes is malformed: the store is corrupt; delete the data directory's pebble folder to rebuild it", len(v))
	}
	return binary.BigEndian.Uint64(v), string(v[9:]), nil
}

func (j *Jobs) stripe(id string) int {
	return int(maphash.String(j.seed, id) % uint64(len(j.stripes)))
}

// lockIDs locks the stripes of ids in a fixed order and returns the unlock.
func (j *Jobs) lockIDs(ids []string) func() {
	s := make([]int, len(ids))
	for i, id := range ids {
		s[i] = j.stripe(id)
	}
	slices.Sort(s)
	s = slices.Compact(s)
	for _, i := range s {
		j.stripes[i].Lock()
	}
	return func() {
		for _, i := range s {
			j.stripes[i].Unlock()
		}
	}
}

func checkJob(job *JobRecord) error {
	if err := checkID("job id", job.ID); err != nil {
		return err
	}
	if job.Host == "" || len(job.Host) > maxHostLen {
		return fmt.Errorf("local: job %q host of %d bytes: %w: want 1 to %d bytes", truncate(job.ID), len(job.Host), ErrInvalid, maxHostLen)
	}
	if job.Attempts < 0 || job.Attempts > math.MaxInt32 {
		return fmt.Errorf("local: job %q attempts %d: %w: want 0 to %d", truncate(job.ID), job.Attempts, ErrInvalid, math.MaxInt32)
	}
	return nil
}

// get reads a job's index entry; found is false when the id is unknown.
func (j *Jobs) get(id string) (due uint64, host string, found bool, err error) {
	v, closer, err := j.db.pdb.Get(j.idKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	defer closer.Close()
	due, host, err = decodeJobIndex(v)
	return due, host, err == nil, err
}

// setJob adds job's two keys to b.
func (j *Jobs) setJob(b *pebble.Batch, host string, due uint64, id string, attempts int, payload []byte) error {
	k := j.dueKey(host, due, id)
	op := b.SetDeferred(len(k), 4+len(payload))
	copy(op.Key, k)
	binary.BigEndian.PutUint32(op.Value, uint32(attempts))
	copy(op.Value[4:], payload)
	if err := op.Finish(); err != nil {
		return err
	}
	return b.Set(j.idKey(id), jobIndexValue(due, host), nil)
}

// Put stores jobs in one synced batch and returns once it is durable. A job
// whose id is already stored replaces it (its host, due time, attempts and
// payload). Ids within one call must differ. Payloads are copied.
func (j *Jobs) Put(jobs ...JobRecord) error {
	if len(jobs) == 0 {
		return nil
	}
	ids := make([]string, len(jobs))
	seen := make(map[string]bool, len(jobs))
	for i := range jobs {
		if err := checkJob(&jobs[i]); err != nil {
			return err
		}
		if seen[jobs[i].ID] {
			return fmt.Errorf("local: put jobs: id %q twice in one call: %w", truncate(jobs[i].ID), ErrInvalid)
		}
		seen[jobs[i].ID] = true
		ids[i] = jobs[i].ID
	}
	if err := j.db.enter(); err != nil {
		return err
	}
	defer j.db.leave()
	unlock := j.lockIDs(ids)
	defer unlock()
	type replaced struct{ id, host string }
	var old []replaced
	b := j.db.pdb.NewBatch()
	defer b.Close()
	for i := range jobs {
		job := &jobs[i]
		odue, ohost, found, err := j.get(job.ID)
		if err != nil {
			return fmt.Errorf("local: put job %q: %w", truncate(job.ID), err)
		}
		if found {
			old = append(old, replaced{job.ID, ohost})
			if err := b.Delete(j.dueKey(ohost, odue, job.ID), nil); err != nil {
				return err
			}
		}
		if err := j.setJob(b, job.Host, unixNanos(job.Due.UnixNano()), job.ID, job.Attempts, job.Payload); err != nil {
			return err
		}
	}
	if err := b.Commit(j.db.wsync); err != nil {
		return fmt.Errorf("local: put %d jobs in %q: %w", len(jobs), j.name, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range old {
		j.forget(r.id, r.host)
	}
	for i := range jobs {
		j.add(jobs[i].Host, unixNanos(jobs[i].Due.UnixNano()))
	}
	return nil
}

// add counts a new job and lowers its host's bound; j.mu held.
func (j *Jobs) add(host string, due uint64) {
	h := j.hosts[host]
	if h == nil {
		h = &jobHost{lo: due}
		j.hosts[host] = h
	}
	h.pending++
	h.lo = min(h.lo, due)
	j.pending++
}

// forget uncounts a removed job and ends its lease; j.mu held.
func (j *Jobs) forget(id, host string) {
	delete(j.leased, id)
	h := j.hosts[host]
	if h == nil {
		return
	}
	h.pending--
	j.pending--
	if h.pending <= 0 {
		delete(j.hosts, host)
	}
}

// Due returns up to max jobs whose due time is at or before now, oldest
// first, from hosts for which hostFilter (nil: all) returns true, and
// leases them: they are not returned again until Done, Reschedule or
// Release names them. hostFilter is called with the store's lock held and
// MUST NOT call methods of j. Payloads are fresh copies.
//
// Cost: one bounded scan per host that has a job due and passes the
// filter; hosts with nothing due cost a map lookup.
func (j *Jobs) Due(now time.Time, max int, hostFilter func(host string) bool) ([]JobRecord, error) {
	if max <= 0 {
		return nil, nil
	}
	if err := j.db.enter(); err != nil {
		return nil, err
	}
	defer j.db.leave()
	j.dueMu.Lock()
	defer j.dueMu.Unlock()
	limit := unixNanos(now.UnixNano())
	j.mu.Lock()
	defer j.mu.Unlock()
	var hosts []string
	for host, h := range j.hosts {
		if h.lo <= limit && (hostFilter == nil || hostFilter(host)) {
			hosts = append(hosts, host)
		}
	}
	if len(hosts) == 0 {
		return nil, nil
	}
	// A k-way merge over one iterator per host, oldest job first: it reads
	// exactly the jobs returned plus one look-ahead per host, however many
	// hosts have work (a relay with fifty busy subscribers must not read
	// fifty batches to return one).
	cs := make(jobCursors, 0, len(hosts))
	defer func() {
		for _, c := range cs {
			c.it.Close()
		}
	}()
	next := make(map[string]uint64, len(hosts)) // new lo per scanned host
	for _, host := range hosts {
		c := &jobCursor{host: host, p: j.hostPrefix(host)}
		lower := binary.BigEndian.AppendUint64(append([]byte(nil), c.p...), j.hosts[host].lo)
		it, err := j.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(c.p)})
		if err != nil {
			return nil, fmt.Errorf("local: jobs %q due: %w", j.name, err)
		}
		c.it = it
		if err := j.advance(c, it.First()); err != nil {
			it.Close()
			return nil, err
		}
		if c.ok && c.due <= limit {
			cs = append(cs, c)
			continue
		}
		next[host] = c.nextLo()
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("local: jobs %q due: %w", j.name, err)
		}
	}
	heap.Init(&cs)
	var out []JobRecord
	for len(cs) > 0 && len(out) < max {
		c := cs[0]
		v := c.it.Value()
		if len(v) < 4 {
			return nil, fmt.Errorf("local: jobs %q: job value of %d bytes: the store is corrupt; delete the data directory's pebble folder to rebuild it", j.name, len(v))
		}
		id := string(c.id)
		out = append(out, JobRecord{
			ID:       id,
			Host:     c.host,
			Due:      time.Unix(0, int64(c.due)),
			Attempts: int(binary.BigEndian.Uint32(v)),
			Payload:  append([]byte(nil), v[4:]...),
		})
		j.leased[id] = jobLease{host: c.host, due: c.due}
		if err := j.advance(c, c.it.Next()); err != nil {
			return nil, err
		}
		if c.ok && c.due <= limit {
			heap.Fix(&cs, 0)
			continue
		}
		heap.Pop(&cs)
		next[c.host] = c.nextLo()
		if err := c.it.Close(); err != nil {
			return nil, fmt.Errorf("local: jobs %q due: %w", j.name, err)
		}
	}
	// Hosts cut off by max: their current job is the first not returned.
	for _, c := range cs {
		next[c.host] = c.due
	}
	// Writers commit before they take j.mu to lower a bound, so a job
	// committed after our iterators opened lowers lo again after this.
	for host, nx := range next {
		if h := j.hosts[host]; h != nil {
			h.lo = nx
		}
	}
	return out, nil
}

// jobCursor is one host's iterator in Due's merge, positioned on its
// first job not leased (ok false when there is none).
type jobCursor struct {
	host string
	p    []byte
	it   *pebble.Iterator
	ok   bool
	due  uint64
	id   []byte // aliases the iterator's key
}

func (c *jobCursor) nextLo() uint64 {
	if !c.ok {
		return math.MaxUint64
	}
	return c.due
}

// advance moves c from a position (valid as returned by First or Next) to
// the first job not leased; j.mu held.
func (j *Jobs) advance(c *jobCursor, valid bool) error {
	for ; valid; valid = c.it.Next() {
		k := c.it.Key()[len(c.p):]
		if len(k) < 8 {
			return fmt.Errorf("local: jobs %q: malformed job key %q: the store is corrupt; delete the data directory's pebble folder to rebuild it", j.name, c.it.Key())
		}
		if _, leased := j.leased[string(k[8:])]; leased {
			continue
		}
		c.ok, c.due, c.id = true, binary.BigEndian.Uint64(k), k[8:]
		return nil
	}
	c.ok = false
	return c.it.Error()
}

// jobCursors is a min-heap by due time, then host (stable across calls).
type jobCursors []*jobCursor

func (h jobCursors) Len() int { return len(h) }
func (h jobCursors) Less(a, b int) bool {
	if h[a].due != h[b].due {
		return h[a].due < h[b].due
	}
	return h[a].host < h[b].host
}
func (h jobCursors) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *jobCursors) Push(x any)   { *h = append(*h, x.(*jobCursor)) }
func (h *jobCursors) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// Reschedule moves a job to a new due time and attempt count, keeping its
// payload, and ends its lease. It is synced. It returns an error wrapping
// ErrNoJob if the job is not stored (Done already ran).
func (j *Jobs) Reschedule(id string, due time.Time, attempts int) error {
	if err := checkJob(&JobRecord{ID: id, Host: "-", Attempts: attempts}); err != nil {
		return err
	}
	if err := j.db.enter(); err != nil {
		return err
	}
	defer j.db.leave()
	unlock := j.lockIDs([]string{id})
	defer unlock()
	odue, host, found, err := j.get(id)
	if err != nil {
		return fmt.Errorf("local: reschedule job %q: %w", truncate(id), err)
	}
	if !found {
		return fmt.Errorf("local: reschedule job %q in %q: %w", truncate(id), j.name, ErrNoJob)
	}
	okey := j.dueKey(host, odue, id)
	v, closer, err := j.db.pdb.Get(okey)
	if err != nil {
		return fmt.Errorf("local: reschedule job %q: read job (the id index names it): %w", truncate(id), err)
	}
	payload := v[min(4, len(v)):]
	ndue := unixNanos(due.UnixNano())
	b := j.db.pdb.NewBatch()
	defer b.Close()
	err = b.Delete(okey, nil)
	if err == nil {
		err = j.setJob(b, host, ndue, id, attempts, payload)
	}
	closer.Close()
	if err == nil {
		err = b.Commit(j.db.wsync)
	}
	if err != nil {
		return fmt.Errorf("local: reschedule job %q: %w", truncate(id), err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.leased, id)
	if h := j.hosts[host]; h != nil {
		h.lo = min(h.lo, ndue)
	}
	return nil
}

// Done removes jobs in one synced batch and ends their leases. Ids that
// name no stored job are ignored, so Done is idempotent.
func (j *Jobs) Done(ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := j.db.enter(); err != nil {
		return err
	}
	defer j.db.leave()
	unlock := j.lockIDs(ids)
	defer unlock()
	b := j.db.pdb.NewBatch()
	defer b.Close()
	type gone struct{ id, host string }
	var removed []gone
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] || checkID("job id", id) != nil {
			continue
		}
		seen[id] = true
		due, host, found, err := j.get(id)
		if err != nil {
			return fmt.Errorf("local: finish job %q: %w", truncate(id), err)
		}
		if !found {
			continue
		}
		if err := b.Delete(j.dueKey(host, due, id), nil); err != nil {
			return err
		}
		if err := b.Delete(j.idKey(id), nil); err != nil {
			return err
		}
		removed = append(removed, gone{id, host})
	}
	if len(removed) > 0 {
		if err := b.Commit(j.db.wsync); err != nil {
			return fmt.Errorf("local: finish %d jobs in %q: %w", len(removed), j.name, err)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, id := range ids {
		delete(j.leased, id)
	}
	for _, g := range removed {
		j.forget(g.id, g.host)
	}
	return nil
}

// Release ends leases without changing the jobs: they are due again at
// their stored time. Call it for leased jobs a caller will not run (it is
// shutting down, or holds them back). Nothing is written.
func (j *Jobs) Release(ids ...string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, id := range ids {
		l, ok := j.leased[id]
		if !ok {
			continue
		}
		delete(j.leased, id)
		if h := j.hosts[l.host]; h != nil {
			h.lo = min(h.lo, l.due)
		}
	}
}

// Stats returns the number of stored jobs (leased ones included) and the
// due time of the oldest, zero when there is none. An I/O error is logged
// and leaves oldest zero.
func (j *Jobs) Stats() (pending int64, oldest time.Time) {
	j.mu.Lock()
	pending = j.pending
	lows := make(map[string]uint64, len(j.hosts))
	for host, h := range j.hosts {
		lows[host] = h.lo
	}
	for _, l := range j.leased {
		if lo, ok := lows[l.host]; ok {
			lows[l.host] = min(lo, l.due)
		}
	}
	j.mu.Unlock()
	if pending == 0 || j.db.enter() != nil {
		return pending, time.Time{}
	}
	defer j.db.leave()
	best := uint64(math.MaxUint64)
	for host, lo := range lows {
		if lo >= best {
			continue
		}
		p := j.hostPrefix(host)
		lower := binary.BigEndian.AppendUint64(append([]byte(nil), p...), lo)
		it, err := j.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(p)})
		if err == nil {
			if it.First() && len(it.Key()) >= len(p)+8 {
				best = min(best, binary.BigEndian.Uint64(it.Key()[len(p):]))
			}
			err = it.Close()
		}
		if err != nil {
			j.db.log.Error("local: jobs stats: read oldest job", "jobs", j.name, "host", host, "err", err)
			return pending, time.Time{}
		}
	}
	if best == math.MaxUint64 {
		return pending, time.Time{}
	}
	return pending, time.Unix(0, int64(best))
}

// Pending returns the number of stored jobs (leased ones included), from
// memory.
func (j *Jobs) Pending() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.pending
}

// NextDue returns a time at or before which the next job not leased, of a
// host for which hostFilter (nil: all) returns true, may be due; zero when
// there is none. It is a lower bound from memory (no I/O): Due may find
// nothing due then, and moves the bound forward when it does. hostFilter is
// called as in Due.
func (j *Jobs) NextDue(hostFilter func(host string) bool) time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	best := uint64(math.MaxUint64)
	for host, h := range j.hosts {
		if h.lo < best && (hostFilter == nil || hostFilter(host)) {
			best = h.lo
		}
	}
	if best == math.MaxUint64 {
		return time.Time{}
	}
	return time.Unix(0, int64(best))
}

// PendingByHost returns the number of stored jobs per host (leased ones
// included). The map is the caller's.
func (j *Jobs) PendingByHost() map[string]int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	m := make(map[string]int64, len(j.hosts))
	for host, h := range j.hosts {
		m[host] = h.pending
	}
	return m
}

// Expedite makes every job of host that is due after now due at now,
// keeping its attempts and payload, in one synced batch, and returns how
// many it moved. The delivery engine calls it when an unavailable host
// answers again, so jobs that were pushed hours out while it was down go
// now. Leases are kept.
func (j *Jobs) Expedite(host string, now time.Time) (int, error) {
	if host == "" || len(host) > maxHostLen {
		return 0, fmt.Errorf("local: expedite jobs of host of %d bytes: %w", len(host), ErrInvalid)
	}
	if err := j.db.enter(); err != nil {
		return 0, err
	}
	defer j.db.leave()
	at := unixNanos(now.UnixNano())
	p := j.hostPrefix(host)
	lower := binary.BigEndian.AppendUint64(append([]byte(nil), p...), at+1)
	it, err := j.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, err
	}
	var ids []string
	for valid := it.First(); valid; valid = it.Next() {
		if k := it.Key()[len(p):]; len(k) > 8 {
			ids = append(ids, string(k[8:]))
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	unlock := j.lockIDs(ids)
	defer unlock()
	b := j.db.pdb.NewBatch()
	defer b.Close()
	moved := 0
	for _, id := range ids {
		// Re-read under the stripe lock: a worker may have finished or
		// rescheduled the job since the scan.
		due, h, found, err := j.get(id)
		if err != nil {
			return 0, fmt.Errorf("local: expedite job %q: %w", truncate(id), err)
		}
		if !found || h != host || due <= at {
			continue
		}
		okey := j.dueKey(host, due, id)
		v, closer, err := j.db.pdb.Get(okey)
		if err != nil {
			return 0, fmt.Errorf("local: expedite job %q: read job (the id index names it): %w", truncate(id), err)
		}
		attempts := 0
		if len(v) >= 4 {
			attempts = int(binary.BigEndian.Uint32(v))
		}
		err = b.Delete(okey, nil)
		if err == nil {
			err = j.setJob(b, host, at, id, attempts, v[min(4, len(v)):])
		}
		closer.Close()
		if err != nil {
			return 0, err
		}
		moved++
	}
	if moved == 0 {
		return 0, nil
	}
	if err := b.Commit(j.db.wsync); err != nil {
		return 0, fmt.Errorf("local: expedite jobs of %q in %q: %w", host, j.name, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if h := j.hosts[host]; h != nil {
		h.lo = min(h.lo, at)
	}
	for _, id := range ids {
		if l, ok := j.leased[id]; ok {
			l.due = min(l.due, at)
			j.leased[id] = l
		}
	}
	return moved, nil
}

// DropHost removes every job of host in one synced batch: one range
// deletion for the jobs and a point deletion per id index entry. The relay
// uses it when it removes a subscriber that stayed unavailable. Leases on
// the dropped jobs end. It returns how many jobs were removed.
func (j *Jobs) DropHost(host string) (int, error) {
	if host == "" || len(host) > maxHostLen {
		return 0, fmt.Errorf("local: drop jobs of host of %d bytes: %w", len(host), ErrInvalid)
	}
	if err := j.db.enter(); err != nil {
		return 0, err
	}
	defer j.db.leave()
	// Puts for this host racing with DropHost may survive it; callers stop
	// enqueueing for the host first.
	p := j.hostPrefix(host)
	it, err := j.db.pdb.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, err
	}
	var ids []string
	for valid := it.First(); valid; valid = it.Next() {
		if k := it.Key()[len(p):]; len(k) > 8 {
			ids = append(ids, string(k[8:]))
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	unlock := j.lockIDs(ids)
	defer unlock()
	b := j.db.pdb.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := b.Delete(j.idKey(id), nil); err != nil {
			return 0, err
		}
	}
	if err := b.Commit(j.db.wsync); err != nil {
		return 0, fmt.Errorf("local: drop jobs of %q in %q: %w", host, j.name, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, id := range ids {
		j.forget(id, host)
	}
	return len(ids), nil
}
