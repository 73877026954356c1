package activity

// key names a member the decoder reads. Each object's members are indexed
// by key once (fields), so a lookup is an array read.
type key uint8

const (
	kNone key = iota
	kId
	kType
	kActor
	kTarget
	kTo
	kCc
	kBto
	kBcc
	kAudience
	kPublished
	kContent
	kSummary
	kTag
	kObject
	kAttributedTo
	kInReplyTo
	kUrl
	kContentMap
	kSummaryMap
	kName
	kNameMap
	kLanguage
	kIdentifier
	kMediaType
	kSource
	kAttachment
	kQuote
	kQuoteUrl
	kQuoteUri
	kMisskeyQuote
	kSensitive
	kUpdated
	kConversation
	kContext
	kOneOf
	kAnyOf
	kEndTime
	kClosed
	kVotersCount
	kFormerType
	kDeleted
	kPreferredUsername
	kInbox
	kOutbox
	kFollowers
	kFollowing
	kFeatured
	kFeaturedTags
	kMovedTo
	kIcon
	kImage
	kEndpoints
	kSharedInbox
	kPublicKey
	kManuallyApprovesFollowers
	kDiscoverable
	kIndexable
	kAlsoKnownAs
	kHref
	kRel
	kBlurhash
	kWidth
	kHeight
	kFocalPoint
	kReplies
	kTotalItems
	kOwner
	kPublicKeyPem
	kValue
	kFirst
	kLast
	kNext
	kPrev
	kPartOf
	kOrderedItems
	kItems
	numKeys
)

// keyNames are the keys as they appear in documents (and error paths).
var keyNames = [numKeys]string{
	kId:                        "id",
	kType:                      "type",
	kActor:                     "actor",
	kTarget:                    "target",
	kTo:                        "to",
	kCc:                        "cc",
	kBto:                       "bto",
	kBcc:                       "bcc",
	kAudience:                  "audience",
	kPublished:                 "published",
	kContent:                   "content",
	kSummary:                   "summary",
	kTag:                       "tag",
	kObject:                    "object",
	kAttributedTo:              "attributedTo",
	kInReplyTo:                 "inReplyTo",
	kUrl:                       "url",
	kContentMap:                "contentMap",
	kSummaryMap:                "summaryMap",
	kName:                      "name",
	kNameMap:                   "nameMap",
	kLanguage:                  "language",
	kIdentifier:                "identifier",
	kMediaType:                 "mediaType",
	kSource:                    "source",
	kAttachment:                "attachment",
	kQuote:                     "quote",
	kQuoteUrl:                  "quoteUrl",
	kQuoteUri:                  "quoteUri",
	kMisskeyQuote:              "_misskey_quote",
	kSensitive:                 "sensitive",
	kUpdated:                   "updated",
	kConversation:              "conversation",
	kContext:                   "context",
	kOneOf:                     "oneOf",
	kAnyOf:                     "anyOf",
	kEndTime:                   "endTime",
	kClosed:                    "closed",
	kVotersCount:               "votersCount",
	kFormerType:                "formerType",
	kDeleted:                   "deleted",
	kPreferredUsername:         "preferredUsername",
	kInbox:                     "inbox",
	kOutbox:                    "outbox",
	kFollowers:                 "followers",
	kFollowing:                 "following",
	kFeatured:                  "featured",
	kFeaturedTags:              "featuredTags",
	kMovedTo:                   "movedTo",
	kIcon:                      "icon",
	kImage:                     "image",
	kEndpoints:                 "endpoints",
	kSharedInbox:               "sharedInbox",
	kPublicKey:                 "publicKey",
	kManuallyApprovesFollowers: "manuallyApprovesFollowers",
	kDiscoverable:              "discoverable",
	kIndexable:                 "indexable",
	kAlsoKnownAs:               "alsoKnownAs",
	kHref:                      "href",
	kRel:                       "rel",
	kBlurhash:                  "blurhash",
	kWidth:                     "width",
	kHeight:                    "height",
	kFocalPoint:                "focalPoint",
	kReplies:                   "replies",
	kTotalItems:                "totalItems",
	kOwner:                     "owner",
	kPublicKeyPem:              "publicKeyPem",
	kValue:                     "value",
	kFirst:                     "first",
	kLast:                      "last",
	kNext:                      "next",
	kPrev:                      "prev",
	kPartOf:                    "partOf",
	kOrderedItems:              "orderedItems",
	kItems:                     "items",
}

var keyIDs = func() map[string]key {
	m := make(map[string]key, numKeys)
	for k := kNone + 1; k < numKeys; k++ {
		m[keyNames[k]] = k
	}
	return m
}()
