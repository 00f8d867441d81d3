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
