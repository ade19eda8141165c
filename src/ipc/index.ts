export {
  TAG, PROTOCOL_VERSION, CONNECTION_WITHOUT_BYTES, encodeMessage, decodeMessage,
  type RuntimeMessageMap, type RuntimeMessageType, type RuntimeMessage, type Envelope, type DecodeResult,
} from './protocol.js';
