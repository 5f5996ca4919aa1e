/** The development PKI: a CA in code and SPIFFE-identified certificates. */
export { createCa, issueCert, type CaOptions, type CertUsage, type IssueOptions, type PemPair } from './ca.js';
export {
  certPath,
  DEFAULT_PKI_DIR,
  DEFAULT_TRUST_DOMAIN,
  DEV_LEAVES,
  initDevPki,
  keyPath,
  loadCa,
  writePair,
  type DevPki,
  type DevPkiOptions,
} from './dev.js';
export { isSpiffeId, singleSpiffeId, spiffeUrisOf } from './spiffe.js';
