// The SQLite schema of the Node host's store, one migration per version.
// The tables are the IndexedDB store's object stores (src/wasm/idb.rs):
// each row keeps one record of src/store/records.rs in `r`, under the keys
// the core's storage operations name (src/store/wire.rs). `PRAGMA
// user_version` says which version a database is at; opening one runs the
// migrations it lacks, in one transaction.

/** The schema version this code writes. */
export const SCHEMA_VERSION = 2;

/** MIGRATIONS[v] takes a database from version v - 1 to v. */
export const MIGRATIONS = [
  null,
  // 1: the six stores.
  `CREATE TABLE sessions (client TEXT PRIMARY KEY, r BLOB NOT NULL) WITHOUT ROWID;
   CREATE TABLE subscriptions (client TEXT, filter TEXT, r BLOB NOT NULL, PRIMARY KEY (client, filter)) WITHOUT ROWID;
   CREATE TABLE messages (id INTEGER PRIMARY KEY, expires_at INTEGER, r BLOB NOT NULL);
   CREATE TABLE deliveries (client TEXT, seq INTEGER, r BLOB NOT NULL, PRIMARY KEY (client, seq)) WITHOUT ROWID;
   CREATE TABLE retained (topic TEXT PRIMARY KEY, r BLOB NOT NULL) WITHOUT ROWID;
   CREATE TABLE incoming (client TEXT, packet_id INTEGER, PRIMARY KEY (client, packet_id)) WITHOUT ROWID;`,
  // 2: `meta`, whose `schema` row says which version last changed the
  // database's shape, from which, and when (as the IndexedDB store's v2).
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
];

/** The tables that hold records, in the order a load reads them. */
export const TABLES = ['sessions', 'subscriptions', 'messages', 'deliveries', 'retained', 'incoming'];

/**
 * Brings `db` (better-sqlite3) to `target` (SCHEMA_VERSION unless a test
 * asks for an older one). Returns the version it was at (0: new). Throws
 * for a database written by a newer tabmq: it would not be understood.
 */
export function migrate(db, target = SCHEMA_VERSION) {
  const from = db.pragma('user_version', { simple: true });
  if (from > SCHEMA_VERSION) {
    const err = new Error(`its schema version is ${from}, newer than this tabmq's (${SCHEMA_VERSION}): open it with the tabmq that wrote it`);
    err.code = 'ERR_TABMQ_STORAGE';
    throw err;
  }
  if (from >= target) return from;
  db.transaction(() => {
    for (let v = from + 1; v <= target; v++) db.exec(MIGRATIONS[v]);
    if (target >= 2) {
      const info = JSON.stringify({ version: target, upgradedFrom: from, at: Date.now() });
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)").run(info);
    }
    db.pragma(`user_version = ${target}`);
  })();
  return from;
}
