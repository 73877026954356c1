package federation

import (
	"context"
	"fmt"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
)

// Outcome is what processing one activity came to, as counted in
// palisade_instance_inbound_total.
type Outcome struct {
	Result string // stored, noop, refused, dropped, ignored, quarantined, failed
	Reason string
	Detail string // for people; set on refusals
}

// ReleaseQuarantined releases held activity id on behalf of by (the
// audit's actor form, e.g. "account:<id>"): it is processed as if it had
// just arrived, with the same decision minus the quarantine, in the same
// transaction that marks it released and writes the audit row. A second
// decision on the same id is a data.Conflict error; an unknown id
// data.NotFound. The returned Outcome says what the processing did (a
// refusal still releases: the moderator's decision stands, the activity
// was simply bad).
func (c *Consumer) ReleaseQuarantined(ctx context.Context, id int64, by string) (Outcome, error) {
	q, err := c.o.Store.GetQuarantined(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	it := &item{}
	it.e.ActivityID, it.e.Type, it.e.Actor, it.e.Body, it.e.Received = q.ActivityURI, q.ActivityType, q.ActorURI, q.Raw, q.CreatedAt
	if len(q.Decision) > 0 {
		if err := it.rec.UnmarshalBinary(q.Decision); err != nil {
			return Outcome{}, fmt.Errorf("federation: held activity %d has an unreadable decision: %w", id, err)
		}
	}
	if it.rec.Action == policy.Quarantine {
		it.rec.Action = policy.Accept
	}
	it.rec.Modifiers &^= policy.ModQuarantine
	it.e.Decision, _ = it.rec.AppendBinary(nil)
	fresh := c.decodeEntry(it)
	fresh.reled = true
	err = c.process(ctx, []*item{fresh}, func(tx *data.Store) error {
		if _, err := tx.DecideQuarantine(ctx, id, true, by); err != nil {
			return err
		}
		return tx.InsertAudit(ctx, &data.AuditEntry{Actor: by, Action: "quarantine.release", TargetType: "quarantine",
			TargetID: fmt.Sprint(id), Detail: map[string]string{"activity": q.ActivityURI, "actor": q.ActorURI}})
	})
	if err != nil {
		return Outcome{}, err
	}
	c.deliver([]*item{fresh})
	c.report([]*item{fresh})
	return Outcome{Result: fresh.result, Reason: fresh.reason, Detail: fresh.detail}, nil
}

// decodeEntry re-runs decode on an entry built in memory.
func (c *Consumer) decodeEntry(it *item) *item {
	return c.decode(0, it.e.Marshal(nil))
}

// RejectQuarantined rejects held activity id on behalf of by: it is
// never processed; the row stays as the record. Errors as
// ReleaseQuarantined.
func (c *Consumer) RejectQuarantined(ctx context.Context, id int64, by string) error {
	return c.o.Store.Tx(ctx, func(tx *data.Store) error {
		q, err := tx.DecideQuarantine(ctx, id, false, by)
		if err != nil {
			return err
		}
		return tx.InsertAudit(ctx, &data.AuditEntry{Actor: by, Action: "quarantine.reject", TargetType: "quarantine",
			TargetID: fmt.Sprint(id), Detail: map[string]string{"activity": q.ActivityURI, "actor": q.ActorURI}})
	})
}
