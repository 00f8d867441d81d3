import { formatDateTime, formatRelative } from '../app/format.js';
import { useNow } from '../app/useNow.js';

/** A relative time ("3 minutes ago") with the exact time as its tooltip and machine value. */
export function RelativeTime({
  iso,
  fallback = '—',
}: {
  iso: string | null | undefined;
  fallback?: string;
}) {
  // Re-render at least every 15 s; any other render (a poll) also refreshes the text.
  useNow();
  if (!iso) return <span className="muted">{fallback}</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {formatRelative(iso, Date.now())}
    </time>
  );
}

/** An exact time, with the relative one as its tooltip. */
export function AbsoluteTime({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={formatRelative(iso)}>
      {formatDateTime(iso)}
    </time>
  );
}
