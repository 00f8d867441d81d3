import type { ReactNode } from 'react';
import type { EventType } from '../api/types.js';
import { useSession } from '../app/context.js';
import { groupByFamily } from '../webhooks/events.js';
import type { ControlProps } from './Field.js';
import { ErrorMessage, Loading } from './States.js';

export const DEFAULT_TEST_EVENT = 'call.ended';

export function defaultTestEvent(types: EventType[] | undefined): string {
  if (!types || types.length === 0) return DEFAULT_TEST_EVENT;
  return types.some((type) => type.name === DEFAULT_TEST_EVENT)
    ? DEFAULT_TEST_EVENT
    : (types[0]?.name ?? DEFAULT_TEST_EVENT);
}

/** A select of the catalogue's event types, grouped by family. */
export function EventTypeSelect({
  types,
  value,
  onChange,
  control,
  includeAll,
}: {
  types: EventType[];
  value: string;
  onChange: (value: string) => void;
  control: ControlProps;
  includeAll?: string;
}) {
  const families = groupByFamily(types);
  return (
    <select
      {...control}
      className="select"
      value={value}
      onChange={(event) => onChange(event.target.value)}
    >
      {includeAll !== undefined && <option value="">{includeAll}</option>}
      {families.map((family) => (
        <optgroup key={family.name} label={family.title}>
          {family.types.map((type) => (
            <option key={type.name} value={type.name}>
              {type.name}
            </option>
          ))}
        </optgroup>
      ))}
    </select>
  );
}

/**
 * Renders `children` with the catalogue's event types once they are loaded; until then the
 * spinner, or the error with Try again.
 */
export function WithEventTypes({ children }: { children: (types: EventType[]) => ReactNode }) {
  const { eventTypes } = useSession();
  if (eventTypes.data) return <>{children(eventTypes.data)}</>;
  return eventTypes.error ? (
    <ErrorMessage
      title="Could not load the event types"
      error={eventTypes.error}
      onRetry={eventTypes.reload}
    />
  ) : (
    <Loading label="Loading event types…" />
  );
}
