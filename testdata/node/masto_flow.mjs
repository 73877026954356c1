// masto_flow.mjs: a member's day on Palisade through masto.js (masto@7.12.0,
// a real Mastodon client library), as cmd/palisade's TestMastoJSClientFlow
// runs it. Two members register an app and sign in with the password
// grant; bob follows alice and streams his home timeline; alice uploads a
// picture and posts; bob reads his home timeline and notifications,
// favourites and replies; alice asks a question in a poll and bob votes;
// an admin pushes a domain block. It prints one
// JSON object of what it saw for the Go test to check.
//
// Environment: PAL_URL (http://host:port), PAL_ALICE, PAL_BOB, PAL_ADMIN
// (e-mail addresses), PAL_PASS (their common password).
import { createRestAPIClient, createOAuthAPIClient, createStreamingAPIClient } from "masto";

const url = process.env.PAL_URL;
const oob = "urn:ietf:wg:oauth:2.0:oob";

async function signIn(email, scopes) {
  const app = await createRestAPIClient({ url }).v1.apps.create({ clientName: "masto flow", redirectUris: oob, scopes });
  const tok = await createOAuthAPIClient({ url }).token.create({
    grantType: "password", clientId: app.clientId, clientSecret: app.clientSecret,
    redirectUri: oob, username: email, password: process.env.PAL_PASS, scope: scopes,
  });
  return { rest: createRestAPIClient({ url, accessToken: tok.accessToken }), token: tok.accessToken };
}

const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + ": timed out")), ms))]);

const alice = await signIn(process.env.PAL_ALICE, "read write follow");
const bob = await signIn(process.env.PAL_BOB, "read write follow");
const me = await alice.rest.v1.accounts.verifyCredentials();
const instance = await alice.rest.v2.instance.fetch();
const emojis = await alice.rest.v1.customEmojis.list();
const filters = await alice.rest.v2.filters.list();
const lists = await alice.rest.v1.lists.list();
const markersBefore = await bob.rest.v1.markers.fetch({ timeline: ["home", "notifications"] });

const rel = await bob.rest.v1.accounts.$select(me.id).follow();

// bob's user stream, token as the WebSocket subprotocol.
const streaming = createStreamingAPIClient({ streamingApiUrl: url.replace(/^http/, "ws"), accessToken: bob.token, retry: 3 });
const sub = streaming.user.subscribe();
const streamed = [];
const streamDone = (async () => {
  for await (const e of sub) {
    streamed.push({ event: e.event, id: e.payload?.id, type: e.payload?.type });
    if (streamed.some((x) => x.event === "update") && streamed.some((x) => x.event === "notification")) break;
  }
})();
// Give the socket a moment to subscribe.
await new Promise((r) => setTimeout(r, 500));

// A 2×2 PNG.
const png = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFUlEQVR4nGM4IScnd0KOAUjcuSMHAB7gBOOXubBPAAAAAElFTkSuQmCC",
  "base64");
const media = await alice.rest.v2.media.create({ file: new Blob([png], { type: "image/png" }), description: "two by two" });
const posted = await alice.rest.v1.statuses.create({
  status: "Hello @bob from masto #palisade", spoilerText: "greeting", visibility: "public", mediaIds: [media.id],
});

const home = await bob.rest.v1.timelines.home.list({ limit: 10 });
const fav = await bob.rest.v1.statuses.$select(posted.id).favourite();
const reply = await bob.rest.v1.statuses.create({ status: "@alice hi back", inReplyToId: posted.id });
const context = await alice.rest.v1.statuses.$select(posted.id).context.fetch();
const bobNotes = await bob.rest.v1.notifications.list();
const aliceNotes = await alice.rest.v1.notifications.list({ types: ["favourite", "mention"] });
const search = await bob.rest.v2.search.list({ q: "alice", type: "accounts" });
const tagged = await bob.rest.v1.timelines.tag.$select("palisade").list();
const marker = await bob.rest.v1.markers.create({ home: { lastReadId: posted.id } });

await withTimeout(streamDone, 15000, "stream");
sub.unsubscribe();
streaming.close();

// alice asks; bob votes (choices are option indexes); alice reads the result.
const asked = await alice.rest.v1.statuses.create({ status: "Lunch?", poll: { options: ["Soup", "Salad"], expiresIn: 3600 } });
const pollVote = await bob.rest.v1.polls.$select(asked.poll.id).votes.create({ choices: [1] });
const pollSeen = await alice.rest.v1.polls.$select(asked.poll.id).fetch();
let voteAgain = null;
try { await bob.rest.v1.polls.$select(asked.poll.id).votes.create({ choices: [0] }); } catch (e) { voteAgain = e.statusCode; }

// An admin pushes a domain block (the admin API of the same node).
let domainBlock = null;
if (process.env.PAL_ADMIN) {
  const admin = await signIn(process.env.PAL_ADMIN, "read write admin:read admin:write");
  domainBlock = await admin.rest.v1.admin.domainBlocks.create({ domain: "flow-spam.test", severity: "silence" });
}

let notFound = null;
try { await bob.rest.v1.statuses.$select("1").fetch(); } catch (e) { notFound = e.statusCode; }

console.log(JSON.stringify({
  me: { id: me.id, acct: me.acct, avatar: me.avatar },
  instance: { domain: instance.domain, maxChars: instance.configuration.statuses.maxCharacters },
  empties: [emojis.length, filters.length, lists.length], markersBefore,
  following: rel.following,
  media: { id: media.id, type: media.type, blurhash: media.blurhash, width: media.meta?.original?.width },
  posted: { id: posted.id, spoiler: posted.spoilerText, media: posted.mediaAttachments.length, tags: posted.tags.map((t) => t.name) },
  home: home.map((s) => s.id),
  favourited: fav.favourited,
  context: { descendants: context.descendants.map((s) => s.id) }, reply: reply.id,
  bobNotes: bobNotes.map((n) => n.type), aliceNotes: aliceNotes.map((n) => n.type),
  search: search.accounts.map((a) => a.acct), tagged: tagged.map((s) => s.id),
  marker: marker.home?.lastReadId, streamed, domainBlock: domainBlock && { domain: domainBlock.domain, severity: domainBlock.severity },
  notFound,
  poll: {
    maxOptions: instance.configuration.polls.maxOptions, id: asked.poll.id, statusId: asked.id,
    options: asked.poll.options.map((o) => o.title), voted: pollVote.voted, ownVotes: pollVote.ownVotes,
    counts: pollVote.options.map((o) => o.votesCount), seenVotes: pollSeen.votesCount, voteAgain,
  },
}));
