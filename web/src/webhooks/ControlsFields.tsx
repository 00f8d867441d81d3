// The form's SPEC §11 controls: custom headers, and a content filter with a "try it" box that
// runs the filter, compiled by the server's own code (src/core/filter.ts), against the event
// type's catalogue example or any pasted event before saving.
import { useId, useMemo, useState } from 'react';
import type { EventType } from '../api/types.js';
import { Field } from '../components/Field.js';
import { compileFilter } from '../../../src/core/filter.js';

export interface HeaderRow {
  name: string;
  value: string;
}

const SECRET_NAME = /auth|token|secret|key|pass|signature|cookie|credential|session/i;

/** A header whose name says it carries a credential: its value is typed and shown hidden. */
export function isSecretLooking(name: string): boolean {
  return SECRET_NAME.test(name);
}

export function maskValue(value: string): string {
  return `${value.length >= 16 ? value.slice(0, 4) : ''}••••••••`;
}

export function rowsOf(headers: Record<string, string> | undefined): HeaderRow[] {
  return Object.entries(headers ?? {}).map(([name, value]) => ({ name, value }));
}

export function headersOf(rows: HeaderRow[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const row of rows) if (row.name.trim() !== '') out[row.name.trim()] = row.value;
  return out;
}

/** The filter text as the API takes it: null when empty, else the parsed JSON. */
export function parseFilterText(
  text: string,
): { ok: true; value: unknown } | { ok: false; message: string } {
  if (text.trim() === '') return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, message: 'The filter is not valid JSON.' };
  }
}

interface HeadersEditorProps {
  rows: HeaderRow[];
  onChange: (rows: HeaderRow[]) => void;
  error?: string;
}

export function HeadersEditor({ rows, onChange, error }: HeadersEditorProps) {
  const id = useId();
  const set = (index: number, row: HeaderRow) =>
    onChange(rows.map((r, i) => (i === index ? row : r)));
  return (
    <fieldset
      className={`field headers-editor${error ? ' field-invalid' : ''}`}
      aria-describedby={[`${id}-hint`, error ? `${id}-error` : null].filter(Boolean).join(' ')}
      data-invalid={error ? '' : undefined}
    >
      <legend className="field-label">Custom headers</legend>
      <p id={`${id}-hint`} className="field-hint">
        Sent with every attempt, up to 20. Rizler&apos;s own headers (Content-Type, User-Agent,
        X-Rizler-*, webhook-*) cannot be set.
      </p>
      {error && (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      )}
      {rows.map((row, index) => (
        <div className="header-row" key={index}>
          <input
            className="input input-mono"
            aria-label={`Header name ${index + 1}`}
            placeholder="X-Team"
            autoComplete="off"
            spellCheck={false}
            value={row.name}
            onChange={(event) => set(index, { ...row, name: event.target.value })}
          />
          <input
            className="input input-mono"
            aria-label={`Header value ${index + 1}`}
            type={isSecretLooking(row.name) ? 'password' : 'text'}
            autoComplete="off"
            spellCheck={false}
            value={row.value}
            onChange={(event) => set(index, { ...row, value: event.target.value })}
          />
          <button
            type="button"
            className="button button-secondary"
            aria-label={`Remove header ${index + 1}`}
            onClick={() => onChange(rows.filter((_, i) => i !== index))}
          >
            Remove
          </button>
        </div>
      ))}
      {rows.length < 20 && (
        <button
          type="button"
          className="button button-secondary"
          onClick={() => onChange([...rows, { name: '', value: '' }])}
        >
          Add header
        </button>
      )}
    </fieldset>
  );
}

interface FilterEditorProps {
  text: string;
  onChange: (text: string) => void;
  types: EventType[];
  error?: string;
}

type Verdict =
  { kind: 'match' } | { kind: 'no-match' } | { kind: 'error'; message: string } | { kind: 'none' };

export function FilterEditor({ text, onChange, types, error }: FilterEditorProps) {
  const id = useId();
  const platform = types.filter((t) => !t.operational);
  const [type, setType] = useState(platform[0]?.name ?? types[0]?.name ?? '');
  const exampleOf = (name: string) =>
    JSON.stringify(
      { event: name, data: types.find((t) => t.name === name)?.example ?? {} },
      null,
      2,
    );
  const [sample, setSample] = useState(() => exampleOf(type));

  const verdict = useMemo((): Verdict => {
    const parsed = parseFilterText(text);
    if (!parsed.ok) return { kind: 'error', message: parsed.message };
    if (parsed.value === null) return { kind: 'none' };
    const compiled = compileFilter(parsed.value);
    if (!compiled.ok) return { kind: 'error', message: `${compiled.message}.` };
    let event: { event?: unknown; data?: unknown };
    try {
      event = JSON.parse(sample) as typeof event;
    } catch {
      return { kind: 'error', message: 'The test event is not valid JSON.' };
    }
    const subject = { event: String(event?.event ?? ''), data: event?.data };
    return compiled.predicate(subject) ? { kind: 'match' } : { kind: 'no-match' };
  }, [text, sample]);

  return (
    <div className="filter-editor">
      <Field
        label="Content filter"
        optional
        hint='JSON matched against {"event","data"}: plain values must be equal; $eq, $neq, $gt, $gte, $lt, $lte, $in, $nin, $startsWith, $endsWith, $exists, $and, $or, $not compare and combine. Empty: every event of the chosen types.'
        error={error}
      >
        {(control) => (
          <textarea
            {...control}
            className="input input-mono filter-text"
            rows={5}
            spellCheck={false}
            placeholder='{"data": {"direction": "inbound", "duration": {"$gte": 60}}}'
            value={text}
            onChange={(event) => onChange(event.target.value)}
          />
        )}
      </Field>
      <section className="filter-try" aria-labelledby={`${id}-title`}>
        <h3 id={`${id}-title`} className="field-label">
          Try the filter
        </h3>
        <div className="field">
          <label htmlFor={`${id}-type`} className="field-label">
            Example event type
          </label>
          <select
            id={`${id}-type`}
            className="input"
            value={type}
            onChange={(event) => {
              setType(event.target.value);
              setSample(exampleOf(event.target.value));
            }}
          >
            {types.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-sample`} className="field-label">
            Test event
          </label>
          <textarea
            id={`${id}-sample`}
            className="input input-mono"
            rows={6}
            spellCheck={false}
            value={sample}
            onChange={(event) => setSample(event.target.value)}
          />
        </div>
        <p className={`filter-verdict filter-verdict-${verdict.kind}`} role="status">
          {verdict.kind === 'match' && 'Matches: this event would be delivered.'}
          {verdict.kind === 'no-match' && 'Does not match: this event would not be delivered.'}
          {verdict.kind === 'none' && 'No filter: every event of the chosen types is delivered.'}
          {verdict.kind === 'error' && verdict.message}
        </p>
      </section>
    </div>
  );
}
