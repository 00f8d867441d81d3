import { type FormEvent, useRef, useState } from 'react';
import { toApiError } from '../api/client.js';
import type { Webhook, WebhookInput } from '../api/types.js';
import { useSession } from '../app/context.js';
import { Dialog, DialogActions } from '../components/Dialog.js';
import { WithEventTypes } from '../components/EventTypeSelect.js';
import { Field, focusFirstInvalid } from '../components/Field.js';
import { SecretInput, Switch, UrlInput } from '../components/Inputs.js';
import { EventPicker } from './EventPicker.js';
import { normalizeSelection } from './events.js';
import { type WebhookField, fieldOfError } from './fieldErrors.js';
import {
  FilterEditor,
  HeadersEditor,
  headersOf,
  parseFilterText,
  rowsOf,
  type HeaderRow,
} from './ControlsFields.js';

interface WebhookFormDialogProps {
  /** The webhook to edit; absent to add one. */
  webhook?: Webhook;
  onClose: () => void;
  onSaved: (webhook: Webhook) => void;
}

type Errors = Partial<Record<WebhookField, string>>;

function sameEvents(a: string[], b: string[]): boolean {
  const left = [...a].sort();
  const right = [...b].sort();
  return left.length === right.length && left.every((value, index) => value === right[index]);
}

export function WebhookFormDialog({ webhook, onClose, onSaved }: WebhookFormDialogProps) {
  const { api, eventTypes } = useSession();
  const editing = webhook !== undefined;
  const [url, setUrl] = useState(webhook?.url ?? '');
  const [description, setDescription] = useState(webhook?.description ?? '');
  const [selection, setSelection] = useState<Set<string>>(() => new Set(webhook?.events ?? []));
  const [secret, setSecret] = useState('');
  const [enabled, setEnabled] = useState(webhook ? webhook.status === 'enabled' : true);
  const [rateLimit, setRateLimit] = useState(
    webhook?.rate_limit_per_minute != null ? String(webhook.rate_limit_per_minute) : '',
  );
  const [headerRows, setHeaderRows] = useState<HeaderRow[]>(() => rowsOf(webhook?.headers));
  const [filterText, setFilterText] = useState(() =>
    webhook?.filter ? JSON.stringify(webhook.filter, null, 2) : '',
  );
  const [ordered, setOrdered] = useState(webhook?.ordering === 'per_key');
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  // Editing a field clears the error shown next to it; the rest stay until the next save.
  const edited = (field: WebhookField) =>
    setErrors((previous) => {
      if (!(field in previous)) return previous;
      const next = { ...previous };
      delete next[field];
      return next;
    });
  const update =
    <T,>(field: WebhookField, set: (value: T) => void) =>
    (value: T) => {
      set(value);
      edited(field);
    };

  const body = (): WebhookInput | Errors => {
    const trimmedRate = rateLimit.trim();
    if (trimmedRate !== '' && !/^\d+$/.test(trimmedRate)) {
      return {
        rate_limit_per_minute: 'Enter a whole number of deliveries per minute, or leave it empty.',
      };
    }
    const parsedFilter = parseFilterText(filterText);
    if (!parsedFilter.ok) return { filter: parsedFilter.message };
    const headers = headersOf(headerRows);
    const filter = parsedFilter.value as WebhookInput['filter'];
    const input: WebhookInput = {
      url: url.trim(),
      events: normalizeSelection(selection),
      status: enabled ? 'enabled' : 'disabled',
    };
    const ordering = ordered ? 'per_key' : 'none';
    const rate = trimmedRate === '' ? null : Number(trimmedRate);
    const text = description.trim() === '' ? null : description.trim();
    if (!editing) {
      if (text !== null) input.description = text;
      if (rate !== null) input.rate_limit_per_minute = rate;
      if (secret !== '') input.secret = secret;
      if (Object.keys(headers).length > 0) input.headers = headers;
      if (filter !== null) input.filter = filter;
      if (ordered) input.ordering = ordering;
      return input;
    }
    // An edit sends only what changed, so it cannot undo someone else's change to another field.
    const patch: WebhookInput = {};
    if (input.url !== webhook.url) patch.url = input.url;
    if (!sameEvents(input.events ?? [], webhook.events)) patch.events = input.events;
    if (input.status !== webhook.status) patch.status = input.status;
    if (text !== webhook.description) patch.description = text;
    if (rate !== webhook.rate_limit_per_minute) patch.rate_limit_per_minute = rate;
    if (secret !== '') patch.secret = secret;
    if (JSON.stringify(headers) !== JSON.stringify(webhook.headers ?? {})) patch.headers = headers;
    if (JSON.stringify(filter) !== JSON.stringify(webhook.filter ?? null)) patch.filter = filter;
    if (ordering !== (webhook.ordering ?? 'none')) patch.ordering = ordering;
    return patch;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (saving) return;
    const built = body();
    const invalid =
      ('rate_limit_per_minute' in built && typeof built.rate_limit_per_minute === 'string') ||
      ('filter' in built && typeof built.filter === 'string');
    if (invalid) {
      setErrors(built as Errors);
      setFormError(null);
      requestAnimationFrame(() => focusFirstInvalid(formRef.current));
      return;
    }
    const input = built as WebhookInput;
    setSaving(true);
    setErrors({});
    setFormError(null);
    try {
      if (editing && Object.keys(input).length === 0) {
        onSaved(webhook);
        return;
      }
      const saved = editing
        ? await api.patch<Webhook>(`/v1/webhooks/${encodeURIComponent(webhook.id)}`, input)
        : await api.post<Webhook>('/v1/webhooks', input);
      onSaved(saved);
    } catch (caught) {
      const error = toApiError(caught);
      const field = fieldOfError(error);
      if (field) setErrors({ [field]: error.message });
      else setFormError(error.message);
      setSaving(false);
      requestAnimationFrame(() => {
        if (field) focusFirstInvalid(formRef.current);
        else formRef.current?.querySelector<HTMLElement>('.form-error')?.focus();
      });
    }
  };

  const formId = editing ? 'webhook-edit-form' : 'webhook-add-form';
  return (
    <Dialog
      title={editing ? 'Edit webhook' : 'Add Webhook'}
      onClose={onClose}
      size="large"
      footer={
        <DialogActions onCancel={onClose}>
          <button type="submit" form={formId} className="button button-primary" disabled={saving}>
            {saving ? 'Saving…' : 'Save'}
          </button>
        </DialogActions>
      }
    >
      <form id={formId} ref={formRef} onSubmit={submit} noValidate className="form">
        {formError && (
          <p className="form-error" role="alert" tabIndex={-1}>
            {formError}
          </p>
        )}
        <Field
          label="Endpoint URL"
          hint="Rizler sends a signed HTTP POST here for every subscribed event."
          error={errors.url}
        >
          {(control) => (
            <UrlInput control={control} autoFocus value={url} onChange={update('url', setUrl)} />
          )}
        </Field>
        <Field label="Description" optional error={errors.description}>
          {(control) => (
            <input
              {...control}
              className="input"
              type="text"
              placeholder="CRM sync, production"
              value={description}
              onChange={(event) => update('description', setDescription)(event.target.value)}
            />
          )}
        </Field>
        <WithEventTypes>
          {(types) => (
            <EventPicker
              types={types}
              selection={selection}
              onChange={update('events', setSelection)}
              error={errors.events}
            />
          )}
        </WithEventTypes>
        <Field
          label="Secret Key"
          optional
          hint={
            editing
              ? 'Leave empty to keep the current secret. A new value replaces it at once; to switch without dropping signatures, rotate the secret instead.'
              : 'Leave empty to generate one (whsec_…). Receivers use it to verify signatures.'
          }
          error={errors.secret}
        >
          {(control) => (
            <SecretInput control={control} value={secret} onChange={update('secret', setSecret)} />
          )}
        </Field>
        <Field
          label="Rate limit per minute"
          optional
          hint="Deliveries beyond it wait; they do not fail. Leave empty for the server's default."
          error={errors.rate_limit_per_minute}
        >
          {(control) => (
            <input
              {...control}
              className="input input-narrow"
              type="text"
              inputMode="numeric"
              value={rateLimit}
              onChange={(event) =>
                update('rate_limit_per_minute', setRateLimit)(event.target.value)
              }
            />
          )}
        </Field>
        <HeadersEditor
          rows={headerRows}
          onChange={update('headers', setHeaderRows)}
          error={errors.headers}
        />
        {eventTypes.data && (
          <FilterEditor
            text={filterText}
            onChange={update('filter', setFilterText)}
            types={eventTypes.data}
            error={errors.filter}
          />
        )}
        <Field
          label="Deliver in order"
          hint="Events that share an ordering key (a call's call_id, an agent's agent_id) are sent one at a time, in the order they were published: each waits until the one before it succeeded or failed for good. It costs speed: one request in flight per key, and a failing event holds back the rest of its key until it succeeds, runs out of retries, or you retry it."
          error={errors.ordering}
        >
          {(control) => (
            <Switch
              control={control}
              checked={ordered}
              onChange={update('ordering', setOrdered)}
              on="Per ordering key"
              off="Off"
            />
          )}
        </Field>
        <Field
          label="Status"
          hint={
            enabled
              ? 'Enabled: receives events.'
              : 'Disabled: receives no new events until enabled.'
          }
          error={errors.status}
        >
          {(control) => (
            <Switch
              control={control}
              checked={enabled}
              onChange={setEnabled}
              on="Enabled"
              off="Disabled"
            />
          )}
        </Field>
      </form>
    </Dialog>
  );
}
