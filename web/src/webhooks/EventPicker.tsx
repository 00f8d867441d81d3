import { useId } from 'react';
import type { EventType } from '../api/types.js';
import { ALL_EVENTS, coveredBy, groupByFamily, isSelected, unknownTokens } from './events.js';

interface EventPickerProps {
  types: EventType[];
  selection: ReadonlySet<string>;
  onChange: (selection: Set<string>) => void;
  error?: string;
}

/**
 * The `Events` field: a group of checkboxes, one per catalogue type, grouped by family,
 * with "All events" (`*`) and per-family wildcards (`call.*`). A type covered by a checked
 * wildcard shows checked and cannot be changed on its own.
 */
export function EventPicker({ types, selection, onChange, error }: EventPickerProps) {
  const id = useId();
  const families = groupByFamily(types.filter((t) => !t.operational));
  const operational = groupByFamily(types.filter((t) => t.operational));
  const extra = unknownTokens(selection, types);

  const toggle = (token: string, checked: boolean) => {
    const next = new Set(selection);
    if (checked) next.add(token);
    else next.delete(token);
    onChange(next);
  };

  const checkbox = (token: string, label: string, description?: string) => {
    const inputId = `${id}-${token}`;
    const descriptionId = description ? `${inputId}-description` : undefined;
    const covering = coveredBy(selection, token);
    return (
      <div className="check" key={token}>
        <input
          type="checkbox"
          id={inputId}
          checked={isSelected(selection, token)}
          disabled={covering !== null}
          aria-describedby={descriptionId}
          onChange={(event) => toggle(token, event.target.checked)}
        />
        <div className="check-text">
          <label htmlFor={inputId}>{label}</label>
          {description && (
            <span id={descriptionId} className="check-description">
              {description}
            </span>
          )}
        </div>
      </div>
    );
  };

  const count = selection.has(ALL_EVENTS)
    ? 'every event type'
    : selection.size === 0
      ? 'none selected'
      : `${selection.size} selected`;

  return (
    <fieldset
      className={`field event-picker${error ? ' field-invalid' : ''}`}
      aria-labelledby={`${id}-legend`}
      aria-describedby={[`${id}-hint`, error ? `${id}-error` : null].filter(Boolean).join(' ')}
      data-invalid={error ? '' : undefined}
    >
      <legend id={`${id}-legend`} className="field-label">
        Events
      </legend>
      <p id={`${id}-hint`} className="field-hint">
        Choose what this endpoint receives ({count}). A family or “All events” also covers types
        added later.
      </p>
      {error && (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      )}
      <div className="event-all">{checkbox(ALL_EVENTS, 'All events', 'Every event type: *')}</div>
      <div className="event-families">
        {families.map((family) => (
          <fieldset key={family.name} className="event-family">
            <legend>{family.title}</legend>
            {checkbox(family.wildcard, `All ${family.name} events`, family.wildcard)}
            <div className="event-types">
              {family.types.map((type) => checkbox(type.name, type.name, type.description))}
            </div>
          </fieldset>
        ))}
        {operational.length > 0 && (
          <fieldset className="event-family event-operational">
            {/* "Operational", not "… events": the Events group keeps a name of its own. */}
            <legend>Operational</legend>
            <p className="check-description">
              Operational events, sent by Rizler about your own endpoints and deliveries; “All
              events” does not include them.
            </p>
            {operational.map((family) => (
              <div key={family.name}>
                {checkbox(family.wildcard, `All ${family.name} events`, family.wildcard)}
                <div className="event-types">
                  {family.types.map((type) => checkbox(type.name, type.name, type.description))}
                </div>
              </div>
            ))}
          </fieldset>
        )}
        {extra.length > 0 && (
          <fieldset className="event-family">
            <legend>Not in the catalogue</legend>
            {extra.map((token) => checkbox(token, token))}
          </fieldset>
        )}
      </div>
    </fieldset>
  );
}
