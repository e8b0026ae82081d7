// Certificates of the Node host's TLS listeners (`tls`: MQTT over TLS,
// `wss`: MQTT over WebSocket over TLS): checking the PEM a user gives
// (Node's createSecureContext takes an empty cert and ignores a CA that is
// not PEM, so the errors would come at the first handshake, or never),
// the options for tls.createServer/https.createServer, and the identity a
// client certificate carries.

import crypto from 'node:crypto';
import { optionError } from '../shared/errors.js';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const isPem = (v) => typeof v === 'string' || Buffer.isBuffer(v) || v instanceof Uint8Array;

/** The certificates of a PEM text (a chain or a CA bundle may hold several). */
function certificates(pem, name) {
  if (!isPem(pem)) throw optionError(name, 'must be PEM text (a string or a Buffer)');
  const blocks = String(Buffer.from(pem)).match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw optionError(name, 'must hold a PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((block, i) => {
    try {
      return new crypto.X509Certificate(block);
    } catch (err) {
      throw optionError(name, `holds a certificate (the ${ordinal(i)}) that cannot be read: ${err.message}`);
    }
  });
}

function ordinal(i) {
  return ['first', 'second', 'third'][i] ?? `${i + 1}th`;
}

function privateKey(pem, name) {
  if (!isPem(pem)) throw optionError(name, 'must be PEM text (a string or a Buffer)');
  try {
    return crypto.createPrivateKey(Buffer.from(pem));
  } catch (err) {
    throw optionError(name, `must be an unencrypted PEM private key: ${err.message}`);
  }
}

/**
 * Checks `{ cert, key, ca? }` (PEM strings or Buffers; `ca` may also be an
 * array of them) and returns them as Node's TLS options take them. Throws
 * a TabmqError (ERR_TABMQ_OPTION) naming `${prefix}cert`, `${prefix}key` or
 * `${prefix}ca`: missing, not PEM, unreadable, or a key that is not the
 * certificate's.
 * @param {{ cert?: unknown, key?: unknown, ca?: unknown }} given
 * @param {string} prefix e.g. 'tls.' or 'wss[1].'
 */
export function checkCertificates(given, prefix = '') {
  const { cert, key, ca } = given;
  if (cert === undefined) throw optionError(`${prefix}cert`, 'is required: the PEM certificate (chain) the listener presents');
  if (key === undefined) throw optionError(`${prefix}key`, 'is required: the PEM private key of `cert`');
  const [leaf] = certificates(cert, `${prefix}cert`);
  const keyObject = privateKey(key, `${prefix}key`);
  if (!leaf.checkPrivateKey(keyObject)) throw optionError(`${prefix}key`, 'is not the private key of `cert`');
  const out = { cert, key };
  if (ca !== undefined) {
    const list = Array.isArray(ca) ? ca : [ca];
    if (list.length === 0) throw optionError(`${prefix}ca`, 'must hold at least one PEM certificate');
    list.forEach((one, i) => certificates(one, Array.isArray(ca) ? `${prefix}ca[${i}]` : `${prefix}ca`));
    out.ca = ca;
  }
  return out;
}

/**
 * Options for tls.createServer / https.createServer of a checked listener
 * spec: its certificates, and a client certificate requested (and one not
 * signed by `ca` refused at the handshake) when `requireCertificate` is
 * set. The handshake must end within `handshakeTimeout` ms, as CONNECT
 * must arrive within the connect timeout.
 */
export function serverOptions(spec, handshakeTimeout) {
  const { cert, key, ca, requireCertificate } = spec;
  return {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    requestCert: requireCertificate,
    rejectUnauthorized: requireCertificate,
    handshakeTimeout,
  };
}

/**
 * The identity of a verified client certificate: its subject's common name
 * (the first, if it has several), or null when there is none.
 * @param {import('node:tls').TLSSocket} socket
 */
export function peerIdentity(socket) {
  if (!socket.authorized) return null;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && name.length > 0 ? name : null;
}
