// The SQLite checkpointer's thread (see SqliteStorage's `backgroundCheckpoints`). It copies
// committed WAL pages back into the database file from a connection of its own, so the fsyncs
// of a checkpoint never stall the thread that claims and records deliveries, and it starts the
// WAL over once it has grown long (checkpoint.ts).
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { checkpointRound, type CheckpointResult } from './checkpoint.js';

const { path, intervalMs, restartFrames } = workerData as {
  path: string;
  intervalMs: number;
  restartFrames: number;
};
const db = new Database(path);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
const checkpoint = (mode: 'PASSIVE' | 'RESTART') =>
  (db.pragma(`wal_checkpoint(${mode})`) as CheckpointResult[])[0]!;

const timer = setInterval(() => {
  try {
    checkpointRound(checkpoint, restartFrames);
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
