// One round of the checkpointer's thread (checkpointer.ts): copy the WAL back, and start it
// over once it has grown long.
//
// A PASSIVE checkpoint never waits, but it never lets the WAL start over either: SQLite goes
// back to the start of the file only when a write begins with every frame copied back, which a
// writer that never pauses does not give it. Under a sustained burst the WAL grew without end
// (1.5 GB over a bench run of 202,000 deliveries, and it stays that size on disk). So once
// the WAL is longer than `restartFrames`, the round catches up with PASSIVE passes while the
// writer goes on, then runs a RESTART checkpoint: that holds new writes back only while it
// copies what the last pass left and syncs, and the next commit writes from the start of the
// file again.

/** What `PRAGMA wal_checkpoint` answers. */
export interface CheckpointResult {
  busy: number;
  /** Frames in the WAL. */
  log: number;
  /** Frames copied back, in all. */
  checkpointed: number;
}

export type Checkpoint = (mode: 'PASSIVE' | 'RESTART') => CheckpointResult;

/** Catch-up passes before a restart, at most; each copies what the writer added meanwhile. */
const CATCH_UP_PASSES = 4;
/** A pass that finds at most this many new frames is close enough: the restart follows. */
const CAUGHT_UP_FRAMES = 1024;

export function checkpointRound(checkpoint: Checkpoint, restartFrames: number): void {
  let last = checkpoint('PASSIVE');
  if (last.log < restartFrames) return;
  for (let pass = 0; pass < CATCH_UP_PASSES; pass++) {
    const next = checkpoint('PASSIVE');
    const added = next.log - last.log;
    last = next;
    if (added <= CAUGHT_UP_FRAMES) break;
  }
  checkpoint('RESTART');
}
