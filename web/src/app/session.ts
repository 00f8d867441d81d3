// The API key lives in this tab's sessionStorage only: never a cookie (nothing to send
// cross-site) and never the URL (nothing in history, logs or Referer headers).

const KEY = 'rizler-webhooks.api-key';

export function loadApiKey(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveApiKey(apiKey: string): void {
  try {
    sessionStorage.setItem(KEY, apiKey);
  } catch {
    // Storage can be disabled; the key then lasts as long as the page.
  }
}

export function clearApiKey(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Nothing stored.
  }
}

// A portal session (SPEC §9): the platform's link carries a token in the URL fragment, which
// no browser sends to a server. It is taken out of the address at once (history.replaceState,
// so it is in no history entry and no later Referer), and kept like an API key, in this
// tab's sessionStorage, with a flag that says it came from a portal link.

const PORTAL = 'rizler-webhooks.portal';

/** Takes a portal token from `#token=…`, if the page was opened with one. */
export function takePortalToken(): string | null {
  const match = /^#token=([A-Za-z0-9_-]+)$/.exec(window.location.hash);
  if (!match) return null;
  window.history.replaceState(null, '', `${window.location.pathname}#/webhooks`);
  saveApiKey(match[1]!);
  try {
    sessionStorage.setItem(PORTAL, '1');
  } catch {
    // Storage can be disabled; the session then lasts as long as the page.
  }
  return match[1]!;
}

/** Whether this tab signed in through a portal link (and has no sign-in form to go back to). */
export function isPortalSession(): boolean {
  try {
    return sessionStorage.getItem(PORTAL) === '1' || window.location.pathname === '/portal';
  } catch {
    return window.location.pathname === '/portal';
  }
}

/** Shown in a frame of the platform's app: no header, no sign-out of its own. */
export function isEmbedded(): boolean {
  try {
    return window.self !== window.top;
  } catch {
    // A cross-origin parent cannot be compared: we are framed.
    return true;
  }
}
