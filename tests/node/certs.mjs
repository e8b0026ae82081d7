// Certificates for the TLS tests, made by `openssl` at test time in a temp
// dir (as tests/node/bridge-tls.test.mjs makes its own): two CAs, a server
// certificate from each for localhost and 127.0.0.1, and client
// certificates.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Makes, in a new temp dir:
 * - `ca` (CN=tabmq test CA) and `other` (CN=someone else): two CAs;
 * - `server` (signed by `ca`) and `server2` (signed by `other`), both for
 *   DNS:localhost and IP:127.0.0.1;
 * - `alice` (CN=alice, signed by `ca`), `mallory` (CN=mallory, signed by
 *   `other`) and `nameless` (no CN, O=nobody, signed by `ca`): client
 *   certificates.
 * Returns `{ dir, path(name), pem(name), remove() }`: `pem('ca.crt')` is the
 * file's text.
 */
export function makeCertificates() {
  const dir = mkdtempSync(join(tmpdir(), 'tabmq-tls-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  // P-256 keys: as good for the tests as RSA, and made in no time.
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  const ca = (name, cn) => ssl('req', '-x509', ...newKey, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`,
    '-days', '2', '-subj', `/CN=${cn}`);
  const signed = (name, subject, by, ext) => {
    ssl('req', ...newKey, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    const extArgs = ext ? ['-extfile', ext] : [];
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.crt`, '-CAkey', `${by}.key`, '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', ...extArgs);
  };
  ca('ca', 'tabmq test CA');
  ca('other', 'someone else');
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  writeFileSync(join(dir, 'client.cnf'), 'extendedKeyUsage=clientAuth\n');
  signed('server', '/CN=localhost', 'ca', 'san.cnf');
  signed('server2', '/CN=localhost', 'other', 'san.cnf');
  signed('alice', '/CN=alice', 'ca', 'client.cnf');
  signed('mallory', '/CN=mallory', 'other', 'client.cnf');
  signed('nameless', '/O=nobody', 'ca', 'client.cnf');
  return {
    dir,
    path: (name) => join(dir, name),
    pem: (name) => readFileSync(join(dir, name), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
