import { useCallback, useEffect, useRef, useState } from 'react';
import { type ApiError, toApiError } from '../api/client.js';

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  /** True while the first load for the current key runs (not during background refreshes). */
  loading: boolean;
  reload: () => void;
}

interface State<T> {
  key: string | null;
  data?: T;
  error?: ApiError;
  loading: boolean;
}

/**
 * Loads what `key` names and, with `pollMs`, refreshes it in the background. Data of a key
 * stays on screen while it refreshes; a failed refresh keeps it and reports the error.
 * `key === null` loads nothing.
 */
export function useResource<T>(
  key: string | null,
  load: (signal: AbortSignal) => Promise<T>,
  options: { pollMs?: number } = {},
): Resource<T> {
  const [state, setState] = useState<State<T>>({ key: null, loading: key !== null });
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const pollMs = options.pollMs;

  useEffect(() => {
    if (key === null) return;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (first: boolean) => {
      if (first) {
        setState((previous) =>
          previous.key === key
            ? { ...previous, loading: previous.data === undefined }
            : { key, loading: true },
        );
      }
      try {
        const data = await loadRef.current(controller.signal);
        if (controller.signal.aborted) return;
        setState({ key, data, loading: false });
      } catch (error) {
        if (controller.signal.aborted) return;
        setState((previous) => ({
          key,
          data: previous.key === key ? previous.data : undefined,
          error: toApiError(error),
          loading: false,
        }));
      }
      if (pollMs && !controller.signal.aborted) {
        timer = setTimeout(() => void run(false), pollMs);
      }
    };
    void run(true);
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [key, generation, pollMs]);

  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  const current = state.key === key;
  return {
    data: current ? state.data : undefined,
    error: current ? state.error : undefined,
    loading: key !== null && (!current || state.loading),
    reload,
  };
}
