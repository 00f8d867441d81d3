// generated from src/core/event-catalogue.ts; do not edit.
// Regenerate with: UPDATE_GENERATED=1 npx vitest run test/receiver/event-types.test.ts
//
// Types only: this file has no runtime code and imports nothing, so the receiver stays light.
// The platform may add properties to any payload over time; these types list the known ones.

/**
 * A call has started: an inbound call reached one of your numbers, or an outbound call was placed.
 *
 * The `data` of a `call.started` event.
 */
export interface CallStartedData {
  /** The call, the same on every event about it. */
  call_id: string;
  /** inbound: a caller dialled one of the account numbers; outbound: an agent or campaign dialled out. */
  direction: 'inbound' | 'outbound';
  /** The number that placed the call (E.164). */
  from: string;
  /** The number that was called (E.164). */
  to: string;
  /** The queue that routed the call; null when it was not queued. */
  queue_id?: string | null;
  /** The agent who placed an outbound call; null for inbound calls. */
  agent_id?: string | null;
  /** When the call started (ISO-8601). */
  started_at?: string;
}

/**
 * A call is ringing on an agent's phone and waiting to be answered.
 *
 * The `data` of a `call.ringing` event.
 */
export interface CallRingingData {
  /** The call, the same on every event about it. */
  call_id: string;
  /** The agent whose phone is ringing. */
  agent_id: string;
  /** inbound: a caller dialled one of the account numbers; outbound: an agent or campaign dialled out. */
  direction?: 'inbound' | 'outbound';
  /** The number that placed the call (E.164). */
  from?: string;
  /** The number that was called (E.164). */
  to?: string;
  /** The queue that routed the call; null when it was not queued. */
  queue_id?: string | null;
  /** When the phone started ringing (ISO-8601). */
  ringing_at?: string;
}

/**
 * An agent answered a call and the caller is now connected.
 *
 * The `data` of a `call.answered` event.
 */
export interface CallAnsweredData {
  /** The call, the same on every event about it. */
  call_id: string;
  /** The agent who answered. */
  agent_id: string;
  /** inbound: a caller dialled one of the account numbers; outbound: an agent or campaign dialled out. */
  direction?: 'inbound' | 'outbound';
  /** The number that placed the call (E.164). */
  from?: string;
  /** The number that was called (E.164). */
  to?: string;
  /** The queue that routed the call; null when it was not queued. */
  queue_id?: string | null;
  /** How long the caller waited before the answer, in whole seconds. */
  wait_time?: number;
  /** When the call was answered (ISO-8601). */
  answered_at?: string;
}

/**
 * A call has ended, whatever its outcome: status says how it ended and duration how long it lasted.
 *
 * The `data` of a `call.ended` event.
 */
export interface CallEndedData {
  /** The call, the same on every event about it. */
  call_id: string;
  /** The agent who handled the call; null when no agent answered. */
  agent_id?: string | null;
  /** How long the call lasted, from start to hang-up, in whole seconds. */
  duration: number;
  /** How the call ended: completed when an agent talked to the caller. */
  status: 'completed' | 'abandoned' | 'no_answer' | 'busy' | 'voicemail' | 'failed';
  /** inbound: a caller dialled one of the account numbers; outbound: an agent or campaign dialled out. */
  direction?: 'inbound' | 'outbound';
  /** The number that placed the call (E.164). */
  from?: string;
  /** The number that was called (E.164). */
  to?: string;
  /** The queue that routed the call; null when it was not queued. */
  queue_id?: string | null;
  /** How long the caller and the agent were connected, in whole seconds. */
  talk_time?: number;
  /** Who hung up. */
  ended_by?: 'caller' | 'agent' | 'system';
  /** When the call started (ISO-8601). */
  started_at?: string;
  /** When the call ended (ISO-8601). */
  ended_at?: string;
}

/**
 * An inbound call ended without any agent answering it.
 *
 * The `data` of a `call.missed` event.
 */
export interface CallMissedData {
  /** The call, the same on every event about it. */
  call_id: string;
  /** The number that placed the call (E.164). */
  from: string;
  /** The number that was called (E.164). */
  to?: string;
  /** The queue that routed the call; null when it was not queued. */
  queue_id?: string | null;
  /** The last agent whose phone rang; null when none rang. */
  agent_id?: string | null;
  /** Why nobody answered: abandoned means the caller hung up while waiting. */
  reason: 'no_answer' | 'busy' | 'abandoned' | 'outside_business_hours' | 'queue_full';
  /** How long the caller waited before the call ended, in whole seconds. */
  wait_time?: number;
  /** When the call ended unanswered (ISO-8601). */
  missed_at?: string;
}

/**
 * A call could not be connected because of a carrier, network or configuration error.
 *
 * The `data` of a `call.failed` event.
 */
export interface CallFailedData {
  /** The call, the same on every event about it. */
  call_id: string;
  /** inbound: a caller dialled one of the account numbers; outbound: an agent or campaign dialled out. */
  direction?: 'inbound' | 'outbound';
  /** The number that placed the call (E.164). */
  from?: string;
  /** The number that was called (E.164). */
  to?: string;
  /** The agent who placed the call, for outbound calls; otherwise null. */
  agent_id?: string | null;
  /** A stable code for the failure, such as carrier_unreachable or invalid_number. */
  error_code: string;
  /** What went wrong, in words. */
  error_message?: string;
  /** The SIP response code from the carrier, when there was one. */
  sip_code?: number;
  /** When the call failed (ISO-8601). */
  failed_at?: string;
}

/**
 * An agent transferred a call to another agent, a queue or an outside number.
 *
 * The `data` of a `call.transferred` event.
 */
export interface CallTransferredData {
  /** The call, the same on every event about it. */
  call_id: string;
  /** The agent who transferred the call. */
  from_agent_id: string;
  /** The agent who received the call, when it went to an agent. */
  to_agent_id?: string | null;
  /** The queue that received the call, when it went to a queue. */
  to_queue_id?: string | null;
  /** The outside number that received the call, when it left the platform (E.164). */
  to_number?: string | null;
  /** blind: handed over at once; warm: the agents spoke before the hand-over. */
  transfer_type: 'blind' | 'warm';
  /** When the transfer completed (ISO-8601). */
  transferred_at?: string;
}

/**
 * A call recording has been processed and can be downloaded from recording_url.
 *
 * The `data` of a `recording.ready` event.
 */
export interface RecordingReadyData {
  /** The recording. */
  recording_id: string;
  /** The call, the same on every event about it. */
  call_id: string;
  /** Where to download the recording; the link stops working at expires_at. */
  recording_url: string;
  /** Length of the recording, in whole seconds. */
  duration?: number;
  /** The audio format of the file. */
  format?: 'mp3' | 'wav';
  /** 1 for a mixed recording, 2 for caller and agent on separate channels. */
  channels?: number;
  /** Size of the file in bytes. */
  size_bytes?: number;
  /** When recording_url stops working (ISO-8601). */
  expires_at?: string;
}

/** One speaker's turn in the conversation. */
export interface TranscriptSegment {
  /** Who is speaking. */
  speaker: 'agent' | 'caller';
  /** Where the segment starts, in seconds from the start of the recording. */
  start: number;
  /** Where the segment ends, in seconds from the start of the recording. */
  end: number;
  /** What was said. */
  text: string;
  /** How sure the speech recognition is, from 0 to 1. */
  confidence?: number;
}

/**
 * The transcript of a call recording is ready, as full text and as timed segments per speaker.
 *
 * The `data` of a `transcript.ready` event.
 */
export interface TranscriptReadyData {
  /** The transcript. */
  transcript_id: string;
  /** The call, the same on every event about it. */
  call_id: string;
  /** The recording that was transcribed. */
  recording_id?: string;
  /** The spoken language as a BCP 47 tag, such as en-US. */
  language?: string;
  /** The whole conversation as plain text. */
  text: string;
  /** The conversation turn by turn, in order. */
  segments?: TranscriptSegment[];
}

/**
 * A caller left a voicemail; the recording and, when available, its transcription are attached.
 *
 * The `data` of a `voicemail.received` event.
 */
export interface VoicemailReceivedData {
  /** The voicemail. */
  voicemail_id: string;
  /** The call, the same on every event about it. */
  call_id: string;
  /** The mailbox that took the message. */
  mailbox_id?: string;
  /** The number that left the message (E.164). */
  from: string;
  /** The number that was called (E.164). */
  to?: string;
  /** Length of the message, in whole seconds. */
  duration?: number;
  /** Where to download the message audio. */
  recording_url: string;
  /** The message as text; null when it could not be transcribed. */
  transcription?: string | null;
  /** When the message was left (ISO-8601). */
  received_at?: string;
}

/**
 * An agent's availability changed, for example from available to on a break.
 *
 * The `data` of a `agent.status_changed` event.
 */
export interface AgentStatusChangedData {
  /** The agent. */
  agent_id: string;
  /** The status before the change. */
  from_status: 'available' | 'busy' | 'on_call' | 'wrap_up' | 'break' | 'offline';
  /** The status after the change. */
  to_status: 'available' | 'busy' | 'on_call' | 'wrap_up' | 'break' | 'offline';
  /** Why the status changed, as the agent or the platform gave it; null when none was given. */
  reason?: string | null;
  /** When the status changed (ISO-8601). */
  changed_at?: string;
}

/**
 * A new agent was added to the account.
 *
 * The `data` of a `agent.created` event.
 */
export interface AgentCreatedData {
  /** The new agent. */
  agent_id: string;
  /** The agent's display name. */
  name: string;
  /** The agent's email address. */
  email?: string;
  /** The agent's internal extension, 2 to 6 digits; null when none. */
  extension?: string | null;
  /** What the agent may do on the platform. */
  role?: 'agent' | 'supervisor' | 'admin';
  /** The team the agent belongs to; null when none. */
  team_id?: string | null;
  /** When the agent was added (ISO-8601). */
  created_at?: string;
}

/**
 * An agent was removed from the account; their past calls and recordings are kept.
 *
 * The `data` of a `agent.deleted` event.
 */
export interface AgentDeletedData {
  /** The removed agent. */
  agent_id: string;
  /** The user who removed the agent; null when the platform did. */
  deleted_by?: string | null;
  /** When the agent was removed (ISO-8601). */
  deleted_at?: string;
}

/**
 * One of your endpoints was disabled: by its owner, for failing too long, or for answering 410 Gone.
 *
 * The `data` of a `webhook.disabled` event.
 */
export interface WebhookDisabledData {
  /** The endpoint (`wh_…`). */
  webhook_id: string;
  /** The endpoint's URL. */
  url: string;
  /** Why the endpoint was disabled. */
  reason: 'manual' | 'failing' | 'gone';
  /** The account concerned; only in the copies sent to the installation operator (RIZLER_OPERATOR_WEBHOOK_URL). */
  account_id?: string;
}

/**
 * One of your endpoints was enabled again; the deliveries that waited for it are sent now.
 *
 * The `data` of a `webhook.enabled` event.
 */
export interface WebhookEnabledData {
  /** The endpoint (`wh_…`). */
  webhook_id: string;
  /** The endpoint's URL. */
  url: string;
  /** The account concerned; only in the copies sent to the installation operator (RIZLER_OPERATOR_WEBHOOK_URL). */
  account_id?: string;
}

/**
 * A delivery failed for good: every automatic retry was spent; it can still be retried by hand.
 *
 * The `data` of a `delivery.exhausted` event.
 */
export interface DeliveryExhaustedData {
  /** The delivery (`dlv_…`). */
  delivery_id: string;
  /** The endpoint (`wh_…`). */
  webhook_id: string;
  /** The event it carried (`evt_…`). */
  event_id: string;
  /** The event's type. */
  event: string;
  /** Attempts made. */
  attempts: number;
  /** The last attempt's HTTP status; null when no answer came. */
  last_status_code: number | null;
  /** What went wrong with the last attempt, in words. */
  last_error: string | null;
  /** The account concerned; only in the copies sent to the installation operator (RIZLER_OPERATOR_WEBHOOK_URL). */
  account_id?: string;
}

/** `call.started` as delivered: the envelope with its `data`. */
export interface CallStartedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'call.started';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: CallStartedData;
}

/** `call.ringing` as delivered: the envelope with its `data`. */
export interface CallRingingEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'call.ringing';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: CallRingingData;
}

/** `call.answered` as delivered: the envelope with its `data`. */
export interface CallAnsweredEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'call.answered';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: CallAnsweredData;
}

/** `call.ended` as delivered: the envelope with its `data`. */
export interface CallEndedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'call.ended';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: CallEndedData;
}

/** `call.missed` as delivered: the envelope with its `data`. */
export interface CallMissedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'call.missed';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: CallMissedData;
}

/** `call.failed` as delivered: the envelope with its `data`. */
export interface CallFailedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'call.failed';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: CallFailedData;
}

/** `call.transferred` as delivered: the envelope with its `data`. */
export interface CallTransferredEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'call.transferred';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: CallTransferredData;
}

/** `recording.ready` as delivered: the envelope with its `data`. */
export interface RecordingReadyEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'recording.ready';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: RecordingReadyData;
}

/** `transcript.ready` as delivered: the envelope with its `data`. */
export interface TranscriptReadyEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'transcript.ready';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: TranscriptReadyData;
}

/** `voicemail.received` as delivered: the envelope with its `data`. */
export interface VoicemailReceivedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'voicemail.received';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: VoicemailReceivedData;
}

/** `agent.status_changed` as delivered: the envelope with its `data`. */
export interface AgentStatusChangedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'agent.status_changed';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: AgentStatusChangedData;
}

/** `agent.created` as delivered: the envelope with its `data`. */
export interface AgentCreatedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'agent.created';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: AgentCreatedData;
}

/** `agent.deleted` as delivered: the envelope with its `data`. */
export interface AgentDeletedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'agent.deleted';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: AgentDeletedData;
}

/** `webhook.disabled` as delivered: the envelope with its `data`. */
export interface WebhookDisabledEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'webhook.disabled';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: WebhookDisabledData;
}

/** `webhook.enabled` as delivered: the envelope with its `data`. */
export interface WebhookEnabledEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'webhook.enabled';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: WebhookEnabledData;
}

/** `delivery.exhausted` as delivered: the envelope with its `data`. */
export interface DeliveryExhaustedEvent {
  /** The event id (`evt_…`), equal to the `webhook-id` header; dedupe on it. */
  id: string;
  event: 'delivery.exhausted';
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: DeliveryExhaustedData;
}

/** Every event an endpoint can receive, discriminated by `event`. */
export type RizlerWebhookEvent =
  | CallStartedEvent
  | CallRingingEvent
  | CallAnsweredEvent
  | CallEndedEvent
  | CallMissedEvent
  | CallFailedEvent
  | CallTransferredEvent
  | RecordingReadyEvent
  | TranscriptReadyEvent
  | VoicemailReceivedEvent
  | AgentStatusChangedEvent
  | AgentCreatedEvent
  | AgentDeletedEvent
  | WebhookDisabledEvent
  | WebhookEnabledEvent
  | DeliveryExhaustedEvent;

/** Event type → the type of its `data`. */
export interface EventDataMap {
  'call.started': CallStartedData;
  'call.ringing': CallRingingData;
  'call.answered': CallAnsweredData;
  'call.ended': CallEndedData;
  'call.missed': CallMissedData;
  'call.failed': CallFailedData;
  'call.transferred': CallTransferredData;
  'recording.ready': RecordingReadyData;
  'transcript.ready': TranscriptReadyData;
  'voicemail.received': VoicemailReceivedData;
  'agent.status_changed': AgentStatusChangedData;
  'agent.created': AgentCreatedData;
  'agent.deleted': AgentDeletedData;
  'webhook.disabled': WebhookDisabledData;
  'webhook.enabled': WebhookEnabledData;
  'delivery.exhausted': DeliveryExhaustedData;
}

/** The name of every event type. */
export type RizlerEventType = keyof EventDataMap;
