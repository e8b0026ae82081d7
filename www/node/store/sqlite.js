// The Node host's store: one SQLite database (better-sqlite3) in the data
// directory, applying the core's storage operations one commit at a time.
// Synchronous: it runs in the store's worker thread (worker.js), never on
// the event loop that routes messages.
//
// - WAL journal; 'strict' commits with synchronous=FULL (the commit is on
//   disk, fsync'd, before it returns: an acknowledgement it releases
//   survives a power loss), 'relaxed' with synchronous=NORMAL (survives a
//   crash of the process, not of the machine).
// - locking_mode=EXCLUSIVE, taken at open: a second broker on the same
//   directory is refused (ERR_TABMQ_STORAGE_LOCKED); the OS drops the lock
//   when the process dies, even by kill -9.
// - auto_vacuum=INCREMENTAL: `compact()` gives freed pages back to the
//   file system a slice at a time.

import { join } from 'node:path';
import { createRequire } from 'node:module';
import { migrate, SCHEMA_VERSION, TABLES } from './schema.js';
import { KIND, readCommit, RowWriter } from './wire.js';

export const DB_FILE = 'tabmq.sqlite';

const require = createRequire(import.meta.url);

function storageError(message, code = 'ERR_TABMQ_STORAGE', cause = undefined) {
  const err = new Error(message, { cause });
  err.code = code;
  return err;
}

/** better-sqlite3, or a clear error when it is not installed (it is an
 *  optional dependency: a native module, needed only with a data directory). */
function loadSqlite() {
  try {
    return require('better-sqlite3');
  } catch (err) {
    throw storageError(`tabmq: a data directory needs the better-sqlite3 package (${err.code ?? err.message}): npm install better-sqlite3@12`, 'ERR_TABMQ_STORAGE', err);
  }
}

export class SqliteStore {
  #db;
  #apply;
  path;
  schemaVersion;
  upgradedFrom;

  /**
   * Opens (creating or upgrading) `dir`/tabmq.sqlite. `durability`:
   * 'strict' or 'relaxed'. `schemaVersion`: for tests that write an older
   * database. Throws an Error with `code` ERR_TABMQ_STORAGE_LOCKED when
   * another process holds the database, ERR_TABMQ_STORAGE otherwise.
   */
  constructor(dir, { durability = 'strict', schemaVersion = SCHEMA_VERSION } = {}) {
    const Database = loadSqlite();
    this.path = join(dir, DB_FILE);
    let db;
    try {
      db = new Database(this.path, { timeout: 0 });
    } catch (err) {
      throw storageError(`tabmq: cannot open the database ${this.path}: ${err.message}`, 'ERR_TABMQ_STORAGE', err);
    }
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // Takes effect only on a new database (before its first table).
      db.pragma('auto_vacuum = INCREMENTAL');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${durability === 'strict' ? 'FULL' : 'NORMAL'}`);
      db.pragma('journal_size_limit = 67108864');
      // The exclusive lock, held from now until close (locking_mode).
      db.exec('BEGIN EXCLUSIVE; COMMIT');
      this.upgradedFrom = migrate(db, schemaVersion);
      this.schemaVersion = db.pragma('user_version', { simple: true });
    } catch (err) {
      db.close();
      if (err.code?.startsWith('SQLITE_BUSY') || err.code?.startsWith('SQLITE_LOCKED')) {
        throw storageError(`tabmq: the data directory ${dir} is in use by another tabmq process (its database ${this.path} is locked)`, 'ERR_TABMQ_STORAGE_LOCKED', err);
      }
      throw storageError(`tabmq: cannot open the database ${this.path}: ${err.message}`, err.code?.startsWith('ERR_TABMQ') ? err.code : 'ERR_TABMQ_STORAGE', err);
    }
    this.#db = db;
    this.#apply = this.#statements();
  }

  #statements() {
    const db = this.#db;
    const s = (sql) => db.prepare(sql);
    const put = {
      [KIND.PUT_SESSION]: s('INSERT OR REPLACE INTO sessions (client, r) VALUES (?, ?)'),
      [KIND.PUT_SUBSCRIPTION]: s('INSERT OR REPLACE INTO subscriptions (client, filter, r) VALUES (?, ?, ?)'),
      [KIND.PUT_MESSAGE]: s('INSERT OR REPLACE INTO messages (id, expires_at, r) VALUES (?, ?, ?)'),
      [KIND.PUT_DELIVERY]: s('INSERT OR REPLACE INTO deliveries (client, seq, r) VALUES (?, ?, ?)'),
      [KIND.PUT_RETAINED]: s('INSERT OR REPLACE INTO retained (topic, r) VALUES (?, ?)'),
      [KIND.PUT_INCOMING]: s('INSERT OR IGNORE INTO incoming (client, packet_id) VALUES (?, ?)'),
    };
    const del = {
      [KIND.DELETE_SUBSCRIPTION]: s('DELETE FROM subscriptions WHERE client = ? AND filter = ?'),
      [KIND.DELETE_MESSAGE]: s('DELETE FROM messages WHERE id = ?'),
      [KIND.DELETE_DELIVERY]: s('DELETE FROM deliveries WHERE client = ? AND seq = ?'),
      [KIND.DELETE_RETAINED]: s('DELETE FROM retained WHERE topic = ?'),
      [KIND.DELETE_INCOMING]: s('DELETE FROM incoming WHERE client = ? AND packet_id = ?'),
    };
    // A session, and everything keyed by its client id.
    const dropSession = ['sessions', 'subscriptions', 'deliveries', 'incoming']
      .map((t) => s(`DELETE FROM ${t} WHERE client = ?`));
    return (kind, a, b, record) => {
      switch (kind) {
        case KIND.PUT_SESSION:
        case KIND.PUT_RETAINED:
          put[kind].run(a, record);
          break;
        case KIND.PUT_SUBSCRIPTION:
        case KIND.PUT_MESSAGE:
        case KIND.PUT_DELIVERY:
          put[kind].run(a, b, record);
          break;
        case KIND.PUT_INCOMING:
          put[kind].run(a, b);
          break;
        case KIND.DELETE_SESSION:
          for (const st of dropSession) st.run(a);
          break;
        case KIND.DELETE_MESSAGE:
        case KIND.DELETE_RETAINED:
          del[kind].run(a);
          break;
        default:
          del[kind].run(a, b);
      }
    };
  }

  /** Applies one commit (a Buffer, src/store/wire.rs) in one transaction.
   *  Returns `{ ticket, ops, bytes }`; throws (and rolls back) on failure. */
  commit(buf) {
    let result;
    this.#db.transaction(() => {
      result = readCommit(buf, this.#apply);
    })();
    return result;
  }

  /** Everything held, as put operations (the buffer the core's `load`
   *  reads), and how many rows. */
  load() {
    const w = new RowWriter();
    const db = this.#db;
    const rows = (sql) => db.prepare(sql).raw().iterate();
    for (const [c, r] of rows('SELECT client, r FROM sessions')) w.session(c, r);
    for (const [c, f, r] of rows('SELECT client, filter, r FROM subscriptions')) w.subscription(c, f, r);
    for (const [id, x, r] of rows('SELECT id, expires_at, r FROM messages')) w.message(id, x, r);
    for (const [c, s, r] of rows('SELECT client, seq, r FROM deliveries')) w.delivery(c, s, r);
    for (const [t, r] of rows('SELECT topic, r FROM retained')) w.retained(t, r);
    for (const [c, p] of rows('SELECT client, packet_id FROM incoming')) w.incoming(c, p);
    return { rows: w.finish(), records: w.rows };
  }

  /** Rows in every table. */
  count() {
    const sql = `SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t})`).join(' + ')}`;
    return this.#db.prepare(sql).pluck().get();
  }

  /** Bytes the database's live pages take (free pages left out), and the
   *  file's size in pages' bytes. */
  size() {
    const pageSize = this.#db.pragma('page_size', { simple: true });
    const pages = this.#db.pragma('page_count', { simple: true });
    const free = this.#db.pragma('freelist_count', { simple: true });
    return { live: (pages - free) * pageSize, file: pages * pageSize, free: free * pageSize };
  }

  /** Gives up to `pages` free pages back to the file system, and truncates
   *  the WAL once its content is in the database. Returns pages freed. */
  compact(pages = 4096) {
    const before = this.#db.pragma('freelist_count', { simple: true });
    if (before > 0) this.#db.pragma(`incremental_vacuum(${pages})`);
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    return before - this.#db.pragma('freelist_count', { simple: true });
  }

  close() {
    if (!this.#db?.open) return;
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.#db.close();
    }
  }
}
