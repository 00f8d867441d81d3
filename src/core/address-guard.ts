// Outbound address safety (SSRF guard). Pure: no sockets, no DNS, no SQL.
//
// Two callers: the webhook routes refuse endpoint URLs whose host is a blocked IP literal
// (checkEndpointUrl, at create/update time), and the worker's dispatcher judges every address
// it is about to connect to (blockedReason, for every new connection). Names are only judged
// at send time, on the addresses they resolve to, so DNS rebinding cannot slip past.
import ipaddr from 'ipaddr.js';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;
type Address = IPv4 | IPv6;

export interface AddressPolicy {
  /** `RIZLER_ALLOW_PRIVATE_NETWORKS`: true turns every check off (local development, tests). */
  allowPrivateNetworks: boolean;
  /** `RIZLER_ALLOWED_NETWORKS`: CIDRs opened despite the block (see parseCidrList). */
  allowedNetworks: readonly string[];
}

/** Thrown (or handed to a connection callback) when an address may not be connected to. */
export class BlockedAddressError extends Error {
  readonly code = 'blocked_address';
  /** the IP that was refused */
  readonly address: string;
  /** why, e.g. 'loopback', 'private (RFC 1918)', 'IPv4-mapped cloud metadata' */
  readonly reason: string;
  /** the name that resolved to `address`, when the URL named a host rather than an IP */
  readonly hostname: string | undefined;

  constructor(address: string, reason: string, hostname?: string) {
    // A name's address is not told: the message reaches the API (test sends, delivery logs),
    // and telling what internal names resolve to would map the private network for a key
    // holder. The server log keeps `address` and `reason` (see the properties).
    const what =
      hostname !== undefined && hostname !== address
        ? 'private address'
        : `${address} is ${withArticle(reason)} address`;
    super(`blocked: ${what}; ${REMEDY}`);
    this.name = 'BlockedAddressError';
    this.address = address;
    this.reason = reason;
    this.hostname = hostname;
  }
}

const REMEDY =
  'deliveries to private networks are disabled (RIZLER_ALLOW_PRIVATE_NETWORKS; ' +
  'RIZLER_ALLOWED_NETWORKS opens chosen ranges)';

// ---------------------------------------------------------------------------------------------
// CIDR lists

/**
 * Parses `RIZLER_ALLOWED_NETWORKS`: CIDRs separated by commas and/or whitespace. A bare IP
 * means that one host (/32 or /128). Returns the normalised CIDRs; throws an Error naming the
 * offending entry otherwise. IPv4 must be four-part decimal here: ipaddr.js would read
 * `010.0.0.0/8` as octal (8.0.0.0/8), which is never what a person who typed it meant.
 */
export function parseCidrList(text: string | undefined): string[] {
  if (text === undefined) return [];
  const entries = text.split(/[\s,]+/).filter((entry) => entry !== '');
  return entries.map(parseCidr);
}

function parseCidr(entry: string): string {
  const bad = (why: string): Error =>
    new Error(
      `RIZLER_ALLOWED_NETWORKS: "${entry}" is not a valid CIDR (${why}); expected e.g. 10.0.0.0/8 or fd00::/8`,
    );
  const slash = entry.indexOf('/');
  const ipText = slash === -1 ? entry : entry.slice(0, slash);
  const prefixText = slash === -1 ? undefined : entry.slice(slash + 1);

  let ip: Address;
  if (ipText.includes(':')) {
    if (!ipaddr.IPv6.isValid(ipText) || ipText.includes('%')) throw bad('not an IPv6 address');
    ip = ipaddr.IPv6.parse(ipText);
  } else {
    if (!ipaddr.IPv4.isValidFourPartDecimal(ipText) || /(^|\.)0\d/.test(ipText)) {
      throw bad('IPv4 must be written as four decimal numbers without leading zeros');
    }
    ip = ipaddr.IPv4.parse(ipText);
  }
  const bits = ip.kind() === 'ipv4' ? 32 : 128;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
      throw bad(`the prefix length must be 0 to ${bits}`);
    }
    prefix = Number(prefixText);
  }
  const network = networkAddress(ip, prefix);
  if (network.toString() !== ip.toString()) {
    throw bad(`host bits are set; did you mean ${formatIp(network)}/${prefix}?`);
  }
  return `${formatIp(ip)}/${prefix}`;
}

function networkAddress(ip: Address, prefix: number): Address {
  const bytes = ip.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return ipaddr.fromByteArray(bytes);
}

// ---------------------------------------------------------------------------------------------
// Host spellings

/**
 * Normalises a host (as in a URL: `[v6]` or bare v6, any IPv4 spelling: decimal, hex, octal,
 * one to four parts, trailing dot) to a canonical IP literal (dotted-quad IPv4, RFC 5952 IPv6
 * without brackets), or null when it is a DNS name.
 *
 * The IPv4 rules are the WHATWG URL host parser's, so the answer equals what `new URL()` (and
 * undici, which uses it) will connect to. ipaddr.js accepts a different set (no trailing dot,
 * no empty `0x` part) and so is not used for IPv4 spellings.
 */
export function hostToIpLiteral(host: string): string | null {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.includes(':')) {
    const zone = h.indexOf('%');
    if (zone !== -1) h = h.slice(0, zone);
    const hex = dottedTailToHex(h);
    return hex !== null && ipaddr.IPv6.isValid(hex)
      ? ipaddr.IPv6.parse(hex).toRFC5952String()
      : null;
  }
  const value = parseWhatwgIPv4(h);
  return value === null ? null : dotted(value);
}

/**
 * Rewrites an IPv6 address's dotted-quad tail (`::ffff:127.0.0.1`) as two hex groups, by the
 * WHATWG rules (four decimal parts, no leading zeros). ipaddr.js must not see the dotted form:
 * it reads `::1.2.3.4` as `::ffff:1.2.3.4` (URL: `::102:304`) and accepts octal and hex parts.
 */
function dottedTailToHex(v6: string): string | null {
  const lastColon = v6.lastIndexOf(':');
  const tail = v6.slice(lastColon + 1);
  if (!tail.includes('.')) return v6;
  const parts = tail.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255))
    return null;
  const [a, b, c, d] = parts.map(Number) as [number, number, number, number];
  return `${v6.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** WHATWG URL "IPv4 parser", returning the 32-bit value or null (a domain or an invalid host). */
function parseWhatwgIPv4(input: string): number | null {
  const parts = input.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return null;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseWhatwgIPv4Number(part);
    if (n === null) return null;
    numbers.push(n);
  }
  const last = numbers.pop() as number;
  if (numbers.some((n) => n > 255)) return null;
  if (last >= 256 ** (4 - numbers.length)) return null;
  return numbers.reduce((acc, n, i) => acc + n * 256 ** (3 - i), last);
}

function parseWhatwgIPv4Number(part: string): number | null {
  if (part === '') return null;
  let digits = part;
  let radix = 10;
  if (digits.startsWith('0x')) {
    digits = digits.slice(2);
    radix = 16;
  } else if (digits.length > 1 && digits.startsWith('0')) {
    digits = digits.slice(1);
    radix = 8;
  }
  if (digits === '') return 0;
  const valid = radix === 16 ? /^[0-9a-f]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!valid.test(digits)) return null;
  // Above 2^53 precision is lost, but anything that long is already >= 2^32 and refused.
  return parseInt(digits, radix);
}

function dotted(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

function formatIp(ip: Address): string {
  return ip.kind() === 'ipv6' ? (ip as IPv6).toRFC5952String() : ip.toString();
}

// ---------------------------------------------------------------------------------------------
// Classification

interface Verdict {
  reason: string;
  /** cloud metadata stays closed unless an allowed network names exactly that host */
  metadata: boolean;
}

type Range = [string, number, string];

// Cloud instance-metadata and control-plane addresses. Some are inside ranges blocked anyway;
// they are listed so the error says what they are and so a broad RIZLER_ALLOWED_NETWORKS
// entry (say 100.64.0.0/10 for a VPN) does not open them by accident.
const METADATA_V4: readonly string[] = [
  '169.254.169.254', // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack IMDS
  '169.254.170.2', // AWS ECS task metadata
  '169.254.170.23', // AWS EKS Pod Identity agent
  '100.100.100.200', // Alibaba Cloud
  '192.0.0.192', // Oracle Cloud (classic)
  '168.63.129.16', // Azure WireServer (a public-range address only reachable inside Azure)
];
const METADATA_V6: readonly string[] = [
  'fd00:ec2::254', // AWS IMDS over IPv6
  'fd00:ec2::23', // AWS EKS Pod Identity agent over IPv6
  'fd20:ce::254', // GCP metadata over IPv6
];

// IANA IPv4 special-purpose registry, first match wins.
const SPECIAL_V4: readonly Range[] = [
  ['0.0.0.0', 32, 'unspecified'],
  ['0.0.0.0', 8, 'reserved ("this network", 0.0.0.0/8)'],
  ['10.0.0.0', 8, 'private (RFC 1918)'],
  ['100.64.0.0', 10, 'CGNAT (100.64.0.0/10)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private (RFC 1918)'],
  ['192.0.0.0', 24, 'reserved (IETF protocol assignments, 192.0.0.0/24)'],
  ['192.0.2.0', 24, 'reserved (documentation)'],
  ['192.88.99.0', 24, 'reserved (6to4 relay anycast)'],
  ['192.168.0.0', 16, 'private (RFC 1918)'],
  ['198.18.0.0', 15, 'reserved (benchmarking)'],
  ['198.51.100.0', 24, 'reserved (documentation)'],
  ['203.0.113.0', 24, 'reserved (documentation)'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved (240.0.0.0/4)'],
];

// IPv6 ranges judged on their own. Forms that embed an IPv4 address are handled before these.
const SPECIAL_V6: readonly Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'reserved (discard-only)'],
  ['2001:db8::', 32, 'reserved (documentation)'],
  ['2001::', 23, 'reserved (IETF protocol assignments, 2001::/23)'],
  ['3fff::', 20, 'reserved (documentation)'],
  ['5f00::', 16, 'reserved (SRv6)'],
  ['fc00::', 7, 'private (unique local, fc00::/7)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private (site-local, fec0::/10)'],
  ['ff00::', 8, 'multicast'],
];
const GLOBAL_UNICAST_V6: [IPv6, number] = [ipaddr.IPv6.parse('2000::'), 3];

const metadataV4 = METADATA_V4.map((ip) => ipaddr.IPv4.parse(ip).toString());
const metadataV6 = METADATA_V6.map((ip) => ipaddr.IPv6.parse(ip).toRFC5952String());
const specialV4 = SPECIAL_V4.map(([ip, bits, reason]) => ({
  cidr: [ipaddr.IPv4.parse(ip), bits] as [IPv4, number],
  reason,
}));
const specialV6 = SPECIAL_V6.map(([ip, bits, reason]) => ({
  cidr: [ipaddr.IPv6.parse(ip), bits] as [IPv6, number],
  reason,
}));

function cidrV6(text: string): [IPv6, number] {
  const [ip, bits] = ipaddr.IPv6.parseCIDR(text);
  return [ip, bits];
}
const MAPPED = cidrV6('::ffff:0:0/96');
const TRANSLATED = cidrV6('::ffff:0:0:0/96');
const NAT64 = cidrV6('64:ff9b::/96');
const NAT64_LOCAL = cidrV6('64:ff9b:1::/48');
const COMPATIBLE = cidrV6('::/96');
const SIX_TO_FOUR = cidrV6('2002::/16');
const TEREDO = cidrV6('2001::/32');

function classifyV4(ip: IPv4): Verdict | null {
  if (metadataV4.includes(ip.toString())) return { reason: 'cloud metadata', metadata: true };
  for (const { cidr, reason } of specialV4) {
    if (ip.match(cidr)) return { reason, metadata: false };
  }
  return null;
}

function v4FromWords(high: number, low: number): IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The IPv4 address an IPv6 address carries, with the name of the form, if it has one. */
function embeddedV4(ip: IPv6): { form: string; v4: IPv4; blockPublic?: string } | null {
  const p = ip.parts as [number, number, number, number, number, number, number, number];
  if (ip.match(MAPPED)) return { form: 'IPv4-mapped', v4: v4FromWords(p[6], p[7]) };
  if (ip.match(TRANSLATED)) return { form: 'IPv4-translated', v4: v4FromWords(p[6], p[7]) };
  if (ip.match(NAT64)) return { form: 'NAT64', v4: v4FromWords(p[6], p[7]) };
  if (ip.match(NAT64_LOCAL)) {
    // RFC 8215 lets the operator choose where the IPv4 sits; the /96 position is judged for
    // the message, and the prefix is refused either way: it only leads into a private network.
    return {
      form: 'NAT64',
      v4: v4FromWords(p[6], p[7]),
      blockPublic: 'private (local-use NAT64, 64:ff9b:1::/48)',
    };
  }
  if (ip.match(COMPATIBLE)) {
    // :: and ::1 are judged as themselves before this point.
    return {
      form: 'IPv4-compatible',
      v4: v4FromWords(p[6], p[7]),
      blockPublic: 'reserved (deprecated IPv4-compatible, ::/96)',
    };
  }
  if (ip.match(SIX_TO_FOUR)) return { form: '6to4', v4: v4FromWords(p[1], p[2]) };
  if (ip.match(TEREDO)) {
    // The client's address is stored inverted in the last 32 bits (RFC 4380).
    return { form: 'Teredo', v4: v4FromWords(p[6] ^ 0xffff, p[7] ^ 0xffff) };
  }
  return null;
}

function classifyV6(ip: IPv6): { verdict: Verdict | null; v4?: IPv4 } {
  const text = ip.toRFC5952String();
  if (metadataV6.includes(text)) return { verdict: { reason: 'cloud metadata', metadata: true } };
  if (text === '::' || text === '::1') {
    return { verdict: { reason: text === '::' ? 'unspecified' : 'loopback', metadata: false } };
  }
  const embedded = embeddedV4(ip);
  if (embedded) {
    const inner = classifyV4(embedded.v4);
    if (inner)
      return {
        verdict: { reason: `${embedded.form} ${inner.reason}`, metadata: inner.metadata },
        v4: embedded.v4,
      };
    const verdict = embedded.blockPublic ? { reason: embedded.blockPublic, metadata: false } : null;
    return { verdict, v4: embedded.v4 };
  }
  for (const { cidr, reason } of specialV6) {
    if (ip.match(cidr)) return { verdict: { reason, metadata: false } };
  }
  if (!ip.match(GLOBAL_UNICAST_V6))
    return { verdict: { reason: 'reserved (outside 2000::/3)', metadata: false } };
  return { verdict: null };
}

const parsedCidrs = new Map<string, [Address, number]>();
function parsedCidr(text: string): [Address, number] | null {
  let parsed = parsedCidrs.get(text);
  if (!parsed) {
    try {
      parsed = ipaddr.parseCIDR(text);
    } catch {
      return null; // config validation (parseCidrList) reports bad entries; here they open nothing
    }
    parsedCidrs.set(text, parsed);
  }
  return parsed;
}

function isAllowed(ip: Address, metadata: boolean, networks: readonly string[]): boolean {
  const full = ip.kind() === 'ipv4' ? 32 : 128;
  return networks.some((text) => {
    const cidr = parsedCidr(text);
    if (!cidr || cidr[0].kind() !== ip.kind()) return false;
    if (metadata && cidr[1] !== full) return false;
    return ip.match(cidr);
  });
}

/**
 * Why `ip` may not be connected to, or null when it may. `ip` is an IP literal (any spelling
 * hostToIpLiteral understands; anything else is refused, failing closed). Embedded IPv4
 * (mapped, translated, compatible, NAT64, 6to4, Teredo) is unwrapped and judged too.
 * An address inside `policy.allowedNetworks` (or whose embedded IPv4 is) is allowed, except
 * cloud metadata, which opens only for an entry naming exactly that host (/32, /128).
 */
export function blockedReason(ip: string, policy: AddressPolicy): string | null {
  if (policy.allowPrivateNetworks) return null;
  const literal = hostToIpLiteral(ip);
  if (literal === null) return 'unrecognised (not an IP literal)';
  const address = ipaddr.parse(literal);
  let verdict: Verdict | null;
  let v4: IPv4 | undefined;
  if (address.kind() === 'ipv4') {
    verdict = classifyV4(address as IPv4);
  } else {
    ({ verdict, v4 } = classifyV6(address as IPv6));
  }
  if (!verdict) return null;
  if (isAllowed(address, verdict.metadata, policy.allowedNetworks)) return null;
  if (v4 && isAllowed(v4, verdict.metadata, policy.allowedNetworks)) return null;
  return verdict.reason;
}

// ---------------------------------------------------------------------------------------------
// Endpoint URLs

/** RFC 6761: these names always mean loopback, whatever DNS says. */
function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Create/update-time check of an endpoint URL: http(s) only (https only when requireHttps),
 * no credentials, and a host that is not a blocked IP literal (nor `localhost`). Other DNS
 * names pass: what they resolve to is judged by the dispatcher at send time.
 */
export function checkEndpointUrl(
  url: string,
  opts: AddressPolicy & { requireHttps: boolean },
): { ok: true; url: URL } | { ok: false; message: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return {
      ok: false,
      message: `"${url}" is not a valid URL; give an absolute URL such as https://example.com/webhooks`,
    };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return {
      ok: false,
      message: `${parsed.protocol.replace(/:$/, '')}:// URLs cannot receive webhooks; use an https:// (or http://) URL`,
    };
  }
  if (opts.requireHttps && parsed.protocol !== 'https:') {
    return {
      ok: false,
      message:
        'http:// endpoints are refused on this server; use an https:// URL (RIZLER_REQUIRE_HTTPS)',
    };
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return {
      ok: false,
      message:
        'URLs with credentials (user:password@host) are refused; remove them and verify deliveries with the webhook signature instead',
    };
  }
  const literal = hostToIpLiteral(parsed.hostname);
  if (literal !== null) {
    const reason = blockedReason(literal, opts);
    if (reason !== null)
      return { ok: false, message: `${literal} is ${withArticle(reason)} address; ${REMEDY}` };
  } else if (isLoopbackName(parsed.hostname)) {
    // Refused only when neither loopback address is open; the send-time check judges the
    // addresses the name really resolves to.
    const blocked =
      blockedReason('127.0.0.1', opts) !== null && blockedReason('::1', opts) !== null;
    if (blocked) return { ok: false, message: `${parsed.hostname} is a loopback name; ${REMEDY}` };
  }
  return { ok: true, url: parsed };
}

function withArticle(reason: string): string {
  return `${/^[aeiouAEIOU]/.test(reason) ? 'an' : 'a'} ${reason}`;
}
