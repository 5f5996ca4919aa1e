/** HTTP/2 + mutual-TLS API framework shared by the Core and its clients. */
export {
  bytesField,
  decodeBytes,
  JSON_TYPE,
  MSGPACK_TYPE,
  NDJSON_TYPE,
  optionalBytesField,
  RawBody,
  type BodyFormat,
} from './codec.js';
export { DEFAULT_MAX_BODY_BYTES } from './body.js';
export {
  createMtlsClient,
  TransportError,
  type BodyContentType,
  type MtlsClient,
  type MtlsClientOptions,
  type MtlsResponse,
  type RequestOptions,
  type StreamHandle,
  type StreamOptions,
} from './client.js';
export { type RequestContext, type Route, type StreamRoute, type StreamWriter, type UnaryRoute } from './router.js';
export {
  createMtlsServer,
  type MtlsServer,
  type MtlsServerLimits,
  type MtlsServerOptions,
  type RefusedRequest,
} from './server.js';
