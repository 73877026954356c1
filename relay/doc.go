// Package relay is the federation transport layer, both ways: the inbound
// ingress pipeline, HTTP signatures, actor-key resolution, the ActivityStreams
// wire model, outbound delivery, and the relay actor with its subscribers.
//
// It knows nothing of the instance's Postgres schema; see the sub-packages.
package relay
