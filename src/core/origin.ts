// An endpoint URL as the sending side sees it: its origin (scheme, host and port), which the
// dispatcher pools connections by and the worker bounds its attempts in flight by, and the
// path it posts to. Each URL is parsed once.

export interface UrlTarget {
  origin: string;
  /** The path and query. */
  path: string;
}

const targets = new Map<string, UrlTarget>();
const MAX_TARGETS = 10_000;

/** The URL's origin and path; throws, as `new URL` does, for one that does not parse. */
export function urlTarget(url: string): UrlTarget {
  let known = targets.get(url);
  if (!known) {
    const parsed = new URL(url);
    known = { origin: parsed.origin, path: parsed.pathname + parsed.search };
    if (targets.size >= MAX_TARGETS) targets.clear();
    targets.set(url, known);
  }
  return known;
}

/** Where the URL's requests are pooled: scheme, host and port (a URL that does not parse: itself). */
export function originOf(url: string): string {
  try {
    return urlTarget(url).origin;
  } catch {
    return url;
  }
}
