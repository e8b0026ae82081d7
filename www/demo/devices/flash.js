// A device's "flash memory": one IndexedDB record per device id, so that a
// light stays on and the energy counter keeps counting across restarts and
// reloads, whatever the broker remembers.

const DB = 'tabmq-demo-flash';
const STORE = 'devices';

let dbPromise = null;

function open() {
  dbPromise ??= new Promise((ok, fail) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
  return dbPromise;
}

export async function loadFlash(id) {
  try {
    const db = await open();
    return await new Promise((ok, fail) => {
      const req = db.transaction(STORE).objectStore(STORE).get(id);
      req.onsuccess = () => ok(req.result ?? {});
      req.onerror = () => fail(req.error);
    });
  } catch {
    return {};
  }
}

export async function saveFlash(id, record) {
  const db = await open();
  await new Promise((ok, fail) => {
    const tx = db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(record, id);
    tx.oncomplete = ok;
    tx.onerror = () => fail(tx.error);
  });
}
