// Package instance is the application behind the gateway: accounts, statuses,
// follows, timelines, notifications, moderation and the Mastodon client API,
// backed by Postgres and fed by the gateway's inbound queue.
package instance
