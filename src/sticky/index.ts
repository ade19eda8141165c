export { Balancer, type BalancerStats } from './balancer-primary.js';
export { SlotTable, type SlotTableStats } from './slot-table-primary.js';
export { WorkerLink } from './worker-link-primary.js';
export { adoptSocket, listenPrivately } from './receiver-worker.js';
export { slotOfAddress, slotOfKey, nextLiveSlot } from './route.js';
export { hashString, jumpHash } from './hash.js';
export { normalizeAddress, parseAddressEntry, clientAddressFromHeader } from './address.js';
export { parseRequestHead, findHeadEnd } from './http-head.js';
export { parseProxyHeader, type ProxyHeaderResult } from './proxy-protocol.js';
