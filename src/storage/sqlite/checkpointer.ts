// The SQLite checkpointer's thread (see SqliteStorage's `backgroundCheckpoints`). It copies
// committed WAL pages back into the database file from a connection of its own, so the fsyncs
// of a checkpoint never stall the thread that claims and records deliveries.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');

const timer = setInterval(() => {
  try {
    // PASSIVE: never waits for readers or writers; what it cannot copy now, the next run does.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // A full or read-only disk: the writers see it too and answer 503; try again next time.
  }
}, intervalMs);

parentPort!.on('message', (message: 'stop') => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort!.postMessage('stopped');
});
