// Facts of ../shared/SPEC.md that several tests check, written here from the SPEC rather than
// imported from the code under test.

/** SPEC §2: the event types the catalogue must have. */
export const SPEC_EVENT_TYPES = [
  'call.started',
  'call.ringing',
  'call.answered',
  'call.ended',
  'call.missed',
  'call.failed',
  'call.transferred',
  'recording.ready',
  'transcript.ready',
  'voicemail.received',
  'agent.status_changed',
  'agent.created',
  'agent.deleted',
];
