import type { ReactNode } from 'react';
import type { ApiError } from '../api/client.js';
import type { Resource } from '../app/useResource.js';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state-loading" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty">
      <p className="state-title">{title}</p>
      {children && <div className="state-body">{children}</div>}
    </div>
  );
}

export function ErrorMessage({
  error,
  onRetry,
  title = 'Something went wrong',
}: {
  error: ApiError | Error;
  onRetry?: () => void;
  title?: string;
}) {
  return (
    <div className="state state-error" role="alert">
      <p className="state-title">{title}</p>
      <p className="state-body">{error.message}</p>
      {onRetry && (
        <button type="button" className="button button-secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A one-line notice used when a background refresh fails but older data stays on screen. */
export function StaleNotice({ error }: { error: ApiError | undefined }) {
  if (!error) return null;
  return (
    <p className="notice notice-warning" role="status">
      Could not refresh: {error.message} Showing the last data received.
    </p>
  );
}

/**
 * What stands in for a resource's data while there is none: the spinner during its first
 * load, then the error with Try again (`loading` and `failed` say what is loaded).
 */
export function ResourceFallback({
  resource,
  loading,
  failed,
}: {
  resource: Resource<unknown>;
  loading: string;
  failed: string;
}) {
  if (resource.loading) return <Loading label={loading} />;
  return resource.error ? (
    <ErrorMessage title={failed} error={resource.error} onRetry={resource.reload} />
  ) : null;
}

/**
 * A resource's data, once it has some, with the notice when a refresh failed; before that, its
 * fallback (ResourceFallback). `empty` may stand in for data with nothing in it (no notice).
 */
export function Loaded<T>({
  resource,
  loading,
  failed,
  empty,
  children,
}: {
  resource: Resource<T>;
  loading: string;
  failed: string;
  empty?: (data: T) => ReactNode;
  children: (data: T) => ReactNode;
}) {
  if (resource.data === undefined) {
    return <ResourceFallback resource={resource} loading={loading} failed={failed} />;
  }
  const none = empty?.(resource.data);
  if (none) return <>{none}</>;
  return (
    <>
      <StaleNotice error={resource.error} />
      {children(resource.data)}
    </>
  );
}

/**
 * What an action on the page (a retry, a copy) reports: a status line, present even when
 * empty so that screen readers announce what it says next, and the error as an alert.
 */
export function ActionStatus({ status, error }: { status: string; error: string | null }) {
  return (
    <>
      <p className="status-text" role="status">
        {status}
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}
