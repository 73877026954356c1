package activity

import "time"

// Builders for the activities the local side sends. They fill the fields
// peers require and leave the rest to the caller; pass the result to
// EncodeActivity. Ids are the caller's: Palisade mints them from its own
// URL scheme.

// Addressing returns the to and cc of a status with visibility v, as
// Mastodon addresses them: public → to Public, cc followers; unlisted → to
// followers, cc Public; private → to followers; direct → to the mentioned
// actors only. Mentioned actors are added to cc (to, for direct).
func Addressing(v Visibility, followers string, mentions []string) (to, cc []string) {
	switch v {
	case VisibilityPublic:
		to = []string{PublicCollection}
		cc = append([]string{followers}, mentions...)
	case VisibilityUnlisted:
		to = []string{followers}
		cc = append([]string{PublicCollection}, mentions...)
	case VisibilityPrivate:
		to = []string{followers}
		cc = append(cc, mentions...)
	default:
		to = append(to, mentions...)
	}
	if len(cc) == 0 {
		cc = nil
	}
	return to, cc
}

// NewCreate wraps a local object in a Create by its author, with the
// object's addressing and publication time. id is the activity's id
// (Mastodon uses the status URI + "/activity").
func NewCreate(id string, o *Object) *Activity {
	return &Activity{
		ID: id, Type: "Create", Actor: o.AttributedTo, Object: o.ID, Objects: []string{o.ID},
		ObjectObject: o, ObjectType: o.Type, To: o.To, Cc: o.Cc, Published: o.Published,
	}
}

// NewUpdate wraps an edited local object in an Update by its author.
func NewUpdate(id string, o *Object) *Activity {
	a := NewCreate(id, o)
	a.Type = "Update"
	a.Published = o.Updated
	return a
}

// NewUpdateActor announces a changed profile, addressed to the public
// (Mastodon sends profile updates to Public).
func NewUpdateActor(id string, actor *Actor) *Activity {
	return &Activity{
		ID: id, Type: "Update", Actor: actor.ID, Object: actor.ID, Objects: []string{actor.ID},
		ObjectActor: actor, ObjectType: actor.Type, To: []string{PublicCollection},
	}
}

// NewDelete deletes objectID (a status or the actor itself), sending the
// object as a Tombstone with that id as Mastodon does.
func NewDelete(id, actor, objectID string, to, cc []string) *Activity {
	t := &Object{ID: objectID, Type: "Tombstone"}
	return &Activity{
		ID: id, Type: "Delete", Actor: actor, Object: objectID, Objects: []string{objectID},
		ObjectObject: t, ObjectType: "Tombstone", To: to, Cc: cc,
	}
}

// NewAnnounce boosts objectID.
func NewAnnounce(id, actor, objectID string, published time.Time, to, cc []string) *Activity {
	return &Activity{
		ID: id, Type: "Announce", Actor: actor, Object: objectID, Objects: []string{objectID},
		To: to, Cc: cc, Published: published,
	}
}

// simple returns an activity of type typ from actor about object (by id).
func simple(typ, id, actor, object string) *Activity {
	return &Activity{ID: id, Type: typ, Actor: actor, Object: object, Objects: []string{object}}
}

// NewFollow asks actor to follow object.
func NewFollow(id, actor, object string) *Activity { return simple("Follow", id, actor, object) }

// NewLike favourites object.
func NewLike(id, actor, object string) *Activity { return simple("Like", id, actor, object) }

// NewBlock blocks the actor object.
func NewBlock(id, actor, object string) *Activity { return simple("Block", id, actor, object) }

// NewMove announces that actor moved to target; Mastodon sends object =
// the old account (the actor itself) and target = the new one.
func NewMove(id, actor, target string) *Activity {
	a := simple("Move", id, actor, actor)
	a.Target = target
	return a
}

// embed returns an activity of type typ from actor embedding inner.
func embed(typ, id, actor string, inner *Activity) *Activity {
	return &Activity{
		ID: id, Type: typ, Actor: actor, Object: inner.ID, Objects: []string{inner.ID},
		ObjectActivity: inner, ObjectType: inner.Type,
	}
}

// NewAccept accepts a received Follow, embedding it (Mastodon matches the
// Accept to its request by the embedded Follow's id, or by actor and
// object when the id is unknown).
func NewAccept(id, actor string, follow *Activity) *Activity {
	return embed("Accept", id, actor, follow)
}

// NewReject rejects a received Follow, embedding it.
func NewReject(id, actor string, follow *Activity) *Activity {
	return embed("Reject", id, actor, follow)
}

// NewUndo withdraws an earlier Follow, Like, Announce or Block, embedding
// it; an Undo of an Announce keeps the Announce's addressing so that the
// same inboxes receive it.
func NewUndo(id, actor string, inner *Activity) *Activity {
	a := embed("Undo", id, actor, inner)
	a.To, a.Cc = inner.To, inner.Cc
	return a
}

// NewFlag reports an account (first) and some of its statuses to their
// instance. Mastodon sends the report as the instance actor, with the
// objects as a list and the comment as content.
func NewFlag(id, actor string, objects []string, content string) *Activity {
	a := &Activity{ID: id, Type: "Flag", Actor: actor, Objects: objects, Content: content}
	if len(objects) > 0 {
		a.Object = objects[0]
	}
	return a
}
