// The routing model, which belongs to no plane: what a connection's key is (strategies, the head
// reader, the PROXY parser, the trust rule) and where it goes (address → bucket → slot).
export {
  BUCKET_SHIFT, WORD_MULTIPLIER, WORD_SHIFT, FINAL_MULTIPLIER_1, FINAL_SHIFT_1, FINAL_MULTIPLIER_2, FINAL_SHIFT_2,
} from './address-bucket.js';
export { normalizeAddress, parseAddressEntry, clientAddressFromHeader } from './address.js';
export { bucketTable } from './bucket-table.js';
export { hashString, jumpHash } from './hash.js';
export { HeadReader, HeadVerdict, type Refusal } from './head-reader-primary.js';
export { parseRequestHead, findHeadEnd } from './http-head.js';
export { parseProxyHeader, type ProxyHeaderResult } from './proxy-protocol.js';
export { answerAndClose } from './responses.js';
export { slotOfAddress, slotOfKey, nextLiveSlot } from './route.js';
export {
  createRoutingStrategy, type HeadStrategy, type RoutingStrategy, type SocketStrategy,
} from './routing-strategy-primary.js';
export { formatSessionId, slotOfSessionUrl } from './session-id.js';
export { forwardedClient, forwardingRule, headerValue, inheritedForwardingRule, type ForwardingRule } from './trust.js';
export { keyRuleOf, watchUpstreamReuse, type UpstreamReuseCounts } from './upstream-reuse-worker.js';
