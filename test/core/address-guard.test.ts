// The address guard's pure rules: every spelling of a host maps to the address a connection
// would reach, and that address is judged (embedded IPv4 included) before anything connects.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BlockedAddressError,
  blockedReason,
  checkEndpointUrl,
  hostToIpLiteral,
  parseCidrList,
  type AddressPolicy,
} from '../../src/core/address-guard.js';

const STRICT: AddressPolicy = { allowPrivateNetworks: false, allowedNetworks: [] };
const STRICT_URL = { ...STRICT, requireHttps: false };

// host as typed in a URL → the literal it means → why it is refused
const BLOCKED_SPELLINGS: readonly [string, string, string][] = [
  ['0', '0.0.0.0', 'unspecified'],
  ['0.0.0.0', '0.0.0.0', 'unspecified'],
  ['0x0', '0.0.0.0', 'unspecified'],
  ['[::]', '::', 'unspecified'],
  ['[0:0:0:0:0:0:0:0]', '::', 'unspecified'],
  ['0.1.2.3', '0.1.2.3', 'reserved ("this network", 0.0.0.0/8)'],
  ['127.1', '127.0.0.1', 'loopback'],
  ['127.0.1', '127.0.0.1', 'loopback'],
  ['127.0.0.1', '127.0.0.1', 'loopback'],
  ['127.0.0.1.', '127.0.0.1', 'loopback'],
  ['0177.0.0.1', '127.0.0.1', 'loopback'],
  ['00000177.0.0.01', '127.0.0.1', 'loopback'],
  ['0x7f.0.0.1', '127.0.0.1', 'loopback'],
  ['0X7F.0x0.0x.1', '127.0.0.1', 'loopback'],
  ['0x7f.1', '127.0.0.1', 'loopback'],
  ['0x7f000001', '127.0.0.1', 'loopback'],
  ['2130706433', '127.0.0.1', 'loopback'],
  ['017700000001', '127.0.0.1', 'loopback'],
  ['%31%32%37.0.0.1', '127.0.0.1', 'loopback'],
  ['\uff11\uff12\uff17.\uff10.\uff10.\uff11', '127.0.0.1', 'loopback'], // fullwidth digits
  ['127.255.255.254', '127.255.255.254', 'loopback'],
  ['[::1]', '::1', 'loopback'],
  ['[0:0:0:0:0:0:0:1]', '::1', 'loopback'],
  ['[::ffff:7f00:1]', '::ffff:7f00:1', 'IPv4-mapped loopback'],
  ['[::ffff:127.0.0.1]', '::ffff:7f00:1', 'IPv4-mapped loopback'],
  ['[0:0:0:0:0:ffff:127.0.0.1]', '::ffff:7f00:1', 'IPv4-mapped loopback'],
  ['[::ffff:0:127.0.0.1]', '::ffff:0:7f00:1', 'IPv4-translated loopback'],
  ['[::7f00:1]', '::7f00:1', 'IPv4-compatible loopback'],
  ['[::127.0.0.1]', '::7f00:1', 'IPv4-compatible loopback'],
  ['[64:ff9b::7f00:1]', '64:ff9b::7f00:1', 'NAT64 loopback'],
  ['[64:ff9b::127.0.0.1]', '64:ff9b::7f00:1', 'NAT64 loopback'],
  ['[64:ff9b:1::7f00:1]', '64:ff9b:1::7f00:1', 'NAT64 loopback'],
  ['[2002:7f00:1::]', '2002:7f00:1::', '6to4 loopback'],
  ['[2002:7f00:1:ffff::1]', '2002:7f00:1:ffff::1', '6to4 loopback'],
  [
    '[2001:0:4136:e378:8000:63bf:80ff:fffe]',
    '2001:0:4136:e378:8000:63bf:80ff:fffe',
    'Teredo loopback',
  ],
  ['10.0.0.1', '10.0.0.1', 'private (RFC 1918)'],
  ['012.0.0.1', '10.0.0.1', 'private (RFC 1918)'],
  ['167772161', '10.0.0.1', 'private (RFC 1918)'],
  ['172.16.0.1', '172.16.0.1', 'private (RFC 1918)'],
  ['172.31.255.255', '172.31.255.255', 'private (RFC 1918)'],
  ['192.168.1.1', '192.168.1.1', 'private (RFC 1918)'],
  ['0xc0a80101', '192.168.1.1', 'private (RFC 1918)'],
  ['[::ffff:192.168.1.1]', '::ffff:c0a8:101', 'IPv4-mapped private (RFC 1918)'],
  ['100.64.0.1', '100.64.0.1', 'CGNAT (100.64.0.0/10)'],
  ['100.127.255.254', '100.127.255.254', 'CGNAT (100.64.0.0/10)'],
  ['169.254.169.254', '169.254.169.254', 'cloud metadata'],
  ['0xa9fea9fe', '169.254.169.254', 'cloud metadata'],
  ['2852039166', '169.254.169.254', 'cloud metadata'],
  ['0251.0376.0251.0376', '169.254.169.254', 'cloud metadata'],
  ['[::ffff:169.254.169.254]', '::ffff:a9fe:a9fe', 'IPv4-mapped cloud metadata'],
  ['[64:ff9b::a9fe:a9fe]', '64:ff9b::a9fe:a9fe', 'NAT64 cloud metadata'],
  ['[fd00:ec2::254]', 'fd00:ec2::254', 'cloud metadata'],
  ['169.254.170.2', '169.254.170.2', 'cloud metadata'],
  ['100.100.100.200', '100.100.100.200', 'cloud metadata'],
  ['192.0.0.192', '192.0.0.192', 'cloud metadata'],
  ['169.254.1.1', '169.254.1.1', 'link-local'],
  ['[fe80::1]', 'fe80::1', 'link-local'],
  ['[febf:ffff::1]', 'febf:ffff::1', 'link-local'],
  ['[fec0::1]', 'fec0::1', 'private (site-local, fec0::/10)'],
  ['[fc00::1]', 'fc00::1', 'private (unique local, fc00::/7)'],
  ['[fd12:3456:789a::1]', 'fd12:3456:789a::1', 'private (unique local, fc00::/7)'],
  ['224.0.0.1', '224.0.0.1', 'multicast'],
  ['239.255.255.250', '239.255.255.250', 'multicast'],
  ['[ff02::1]', 'ff02::1', 'multicast'],
  ['255.255.255.255', '255.255.255.255', 'broadcast'],
  ['4294967295', '255.255.255.255', 'broadcast'],
  ['240.0.0.1', '240.0.0.1', 'reserved (240.0.0.0/4)'],
  ['192.0.2.1', '192.0.2.1', 'reserved (documentation)'],
  ['198.18.0.1', '198.18.0.1', 'reserved (benchmarking)'],
  ['[2001:db8::1]', '2001:db8::1', 'reserved (documentation)'],
  ['[100::1]', '100::1', 'reserved (discard-only)'],
  ['[::2:1]', '::2:1', 'IPv4-compatible reserved ("this network", 0.0.0.0/8)'],
  ['[1::1]', '1::1', 'reserved (outside 2000::/3)'],
];

// Public addresses, some just outside a blocked range. Only judged here; nothing connects.
const PUBLIC: readonly [string, string][] = [
  ['93.184.216.34', '93.184.216.34'],
  ['8.8.8.8', '8.8.8.8'],
  ['1.1.1.1', '1.1.1.1'],
  ['0x5db8d822', '93.184.216.34'],
  ['172.32.0.1', '172.32.0.1'],
  ['172.15.255.255', '172.15.255.255'],
  ['100.128.0.1', '100.128.0.1'],
  ['100.63.255.255', '100.63.255.255'],
  ['169.255.0.1', '169.255.0.1'],
  ['192.169.0.1', '192.169.0.1'],
  ['223.255.255.255', '223.255.255.255'],
  ['[2606:4700::1]', '2606:4700::1'],
  ['[2a00:1450:4001::200e]', '2a00:1450:4001::200e'],
  ['[::ffff:93.184.216.34]', '::ffff:5db8:d822'],
  ['[64:ff9b::93.184.216.34]', '64:ff9b::5db8:d822'],
  ['[2002:5db8:d822::1]', '2002:5db8:d822::1'],
];

describe('hostToIpLiteral', () => {
  it.each(BLOCKED_SPELLINGS)('reads %s as %s', (spelling, literal) => {
    // What WHATWG URL (and so undici) makes of the spelling, then what we make of that ...
    expect(hostToIpLiteral(new URL(`http://${spelling}/`).hostname)).toBe(literal);
    // ... and of the raw spelling where no URL parser has been over it (percent-encoding and
    // fullwidth digits are URL-level, not host-level, spellings).
    if (!spelling.includes('%') && /^[\x20-\x7e]*$/.test(spelling)) {
      expect(hostToIpLiteral(spelling)).toBe(literal);
    }
  });

  it.each(PUBLIC)('reads public %s as %s', (spelling, literal) => {
    expect(hostToIpLiteral(spelling)).toBe(literal);
  });

  it.each([
    'example.com',
    'localhost',
    '127.0.0.1.nip.io',
    '0x7f.example',
    'a.b.c.d',
    '1.2.3.4.5',
    '1.2.3.09',
    '08',
    '',
  ])('treats %j as a name (or no address at all)', (host) => {
    expect(hostToIpLiteral(host)).toBeNull();
  });

  it('agrees with the WHATWG URL parser on every IPv4 spelling (property)', () => {
    const part = (value: number): fc.Arbitrary<string> =>
      fc
        .constantFrom('dec', 'oct', 'hex', 'HEX')
        .map((radix) =>
          radix === 'dec'
            ? value.toString(10)
            : radix === 'oct'
              ? '0' + value.toString(8)
              : radix === 'hex'
                ? '0x' + value.toString(16)
                : '0X' + value.toString(16).toUpperCase(),
        );
    const spelling = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 4 }), fc.boolean())
      .chain(([value, count, trailingDot]) => {
        const bytes = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
        const lead = bytes.slice(0, count - 1);
        const rest = bytes.slice(count - 1).reduce((acc, b) => acc * 256 + b, 0);
        return fc
          .tuple(...[...lead, rest].map(part))
          .map((parts) => ({ value, text: parts.join('.') + (trailingDot ? '.' : '') }));
      });
    fc.assert(
      fc.property(spelling, ({ value, text }) => {
        const expected = [
          value >>> 24,
          (value >>> 16) & 0xff,
          (value >>> 8) & 0xff,
          value & 0xff,
        ].join('.');
        expect(new URL(`http://${text}/`).hostname).toBe(expected);
        expect(hostToIpLiteral(text)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with the WHATWG URL parser on IPv6 addresses, dotted tails included (property)', () => {
    const urlV6 = (text: string): string | null => {
      try {
        return new URL(`http://[${text}]/`).hostname.slice(1, -1);
      } catch {
        return null;
      }
    };
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        expect(hostToIpLiteral(text)).toBe(urlV6(text));
        expect(hostToIpLiteral(`[${text}]`)).toBe(urlV6(text));
      }),
      { numRuns: 3000 },
    );
    const junk = fc.string({
      unit: fc.constantFrom(...'0123456789abcdef:.'),
      minLength: 1,
      maxLength: 30,
    });
    fc.assert(
      fc.property(junk, (text) => {
        fc.pre(text.includes(':'));
        expect(hostToIpLiteral(`[${text}]`)).toBe(urlV6(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('never finds an IPv4 address where the WHATWG URL parser finds none, nor the reverse (property)', () => {
    const host = fc.string({ unit: fc.constantFrom(...'0123456789abcdefxX.'), maxLength: 24 });
    fc.assert(
      fc.property(host, (text) => {
        let urlHost: string | null;
        try {
          urlHost = new URL(`http://${text}/`).hostname;
        } catch {
          urlHost = null;
        }
        const ours = hostToIpLiteral(text);
        if (urlHost !== null && /^\d+\.\d+\.\d+\.\d+$/.test(urlHost)) expect(ours).toBe(urlHost);
        else expect(ours).toBeNull();
      }),
      { numRuns: 5000 },
    );
  });
});

describe('blockedReason', () => {
  it.each(BLOCKED_SPELLINGS)('refuses %s (%s) as %s', (_spelling, literal, reason) => {
    expect(blockedReason(literal, STRICT)).toBe(reason);
  });

  it.each(PUBLIC)('allows public %s', (_spelling, literal) => {
    expect(blockedReason(literal, STRICT)).toBeNull();
  });

  it('judges the IPv4 inside mapped, NAT64 and 6to4 forms exactly as the IPv4 itself (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        const inner = blockedReason(v4, STRICT);
        const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
        const hi = ((a << 8) | b).toString(16);
        const lo = ((c << 8) | d).toString(16);
        const forms: [string, string][] = [
          [`::ffff:${v4}`, 'IPv4-mapped'],
          [`64:ff9b::${hi}:${lo}`, 'NAT64'],
          [`2002:${hi}:${lo}::1`, '6to4'],
        ];
        for (const [v6, form] of forms) {
          expect(blockedReason(v6, STRICT)).toBe(inner === null ? null : `${form} ${inner}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('fails closed on something that is not an IP address', () => {
    expect(blockedReason('example.com', STRICT)).toMatch(/unrecognised/);
    expect(blockedReason('', STRICT)).toMatch(/unrecognised/);
  });

  it('allows everything when private networks are allowed', () => {
    const open: AddressPolicy = { allowPrivateNetworks: true, allowedNetworks: [] };
    for (const [, literal] of BLOCKED_SPELLINGS) expect(blockedReason(literal, open)).toBeNull();
  });

  it('opens exactly the allowed networks, embedded forms included', () => {
    const policy: AddressPolicy = {
      allowPrivateNetworks: false,
      allowedNetworks: ['127.0.0.0/8', 'fd00::/8'],
    };
    expect(blockedReason('127.0.0.1', policy)).toBeNull();
    expect(blockedReason('127.9.9.9', policy)).toBeNull();
    expect(blockedReason('::ffff:7f00:1', policy)).toBeNull();
    expect(blockedReason('fd12::1', policy)).toBeNull();
    expect(blockedReason('::1', policy)).toBe('loopback');
    expect(blockedReason('10.0.0.1', policy)).toBe('private (RFC 1918)');
    expect(blockedReason('fc00::1', policy)).toBe('private (unique local, fc00::/7)');
  });

  it('keeps cloud metadata closed unless it is listed on its own', () => {
    const broad: AddressPolicy = {
      allowPrivateNetworks: false,
      allowedNetworks: ['169.254.0.0/16', '100.64.0.0/10', 'fd00::/8'],
    };
    expect(blockedReason('169.254.1.1', broad)).toBeNull();
    expect(blockedReason('100.64.0.1', broad)).toBeNull();
    expect(blockedReason('169.254.169.254', broad)).toBe('cloud metadata');
    expect(blockedReason('100.100.100.200', broad)).toBe('cloud metadata');
    expect(blockedReason('fd00:ec2::254', broad)).toBe('cloud metadata');
    expect(blockedReason('::ffff:169.254.169.254', broad)).toBe('IPv4-mapped cloud metadata');
    const exact: AddressPolicy = {
      allowPrivateNetworks: false,
      allowedNetworks: ['169.254.169.254/32'],
    };
    expect(blockedReason('169.254.169.254', exact)).toBeNull();
  });
});

describe('parseCidrList', () => {
  it('reads comma- and space-separated CIDRs and bare addresses', () => {
    expect(parseCidrList(undefined)).toEqual([]);
    expect(parseCidrList('')).toEqual([]);
    expect(parseCidrList(' 10.0.0.0/8, 192.168.0.0/16 fd00::/8,,127.0.0.1 ::1 ')).toEqual([
      '10.0.0.0/8',
      '192.168.0.0/16',
      'fd00::/8',
      '127.0.0.1/32',
      '::1/128',
    ]);
    expect(parseCidrList('FD00:0000::/8')).toEqual(['fd00::/8']);
    expect(parseCidrList('0.0.0.0/0')).toEqual(['0.0.0.0/0']);
  });

  it.each([
    ['10.0.0.0/33', /prefix length must be 0 to 32/],
    ['fd00::/129', /prefix length must be 0 to 128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/8x', /prefix length/],
    ['10.0.0.1/8', /host bits are set; did you mean 10\.0\.0\.0\/8\?/],
    ['010.0.0.0/8', /four decimal numbers/],
    ['0x0a.0.0.0/8', /four decimal numbers/],
    ['10.0/16', /four decimal numbers/],
    ['example.com/8', /four decimal numbers/],
    ['fe80::1%eth0/64', /not an IPv6 address/],
    ['fd00:::/8', /not an IPv6 address/],
  ])('refuses %s with a clear message', (text, message) => {
    expect(() => parseCidrList(`192.168.0.0/16,${text}`)).toThrow(message);
    expect(() => parseCidrList(text)).toThrow(`"${text}" is not a valid CIDR`);
  });
});

describe('checkEndpointUrl', () => {
  it.each(BLOCKED_SPELLINGS)('refuses http://%s/ (%s, %s)', (spelling, literal, reason) => {
    const result = checkEndpointUrl(`http://${spelling}:8080/hook`, STRICT_URL);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const article = /^[aeiouI]/.test(reason) ? 'an' : 'a';
    expect(result.message).toBe(
      `${literal} is ${article} ${reason} address; deliveries to private networks are disabled ` +
        '(RIZLER_ALLOW_PRIVATE_NETWORKS; RIZLER_ALLOWED_NETWORKS opens chosen ranges)',
    );
  });

  it('says the loopback sentence the product promises', () => {
    const result = checkEndpointUrl('https://127.0.0.1/', { ...STRICT, requireHttps: true });
    expect(result).toEqual({
      ok: false,
      message: expect.stringMatching(
        /^127\.0\.0\.1 is a loopback address; deliveries to private networks are disabled \(RIZLER_ALLOW_PRIVATE_NETWORKS/,
      ),
    });
  });

  it.each(PUBLIC)('accepts public http://%s/', (spelling) => {
    const result = checkEndpointUrl(`https://${spelling}/webhooks?x=1`, {
      ...STRICT,
      requireHttps: true,
    });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.url.protocol).toBe('https:');
  });

  it.each(['example.com', '127.0.0.1.nip.io', 'internal.corp', 'metadata.google.internal'])(
    'accepts the name %s (its addresses are judged at send time)',
    (name) => {
      expect(checkEndpointUrl(`https://${name}/hook`, STRICT_URL).ok).toBe(true);
    },
  );

  it.each(['localhost', 'LOCALHOST', 'localhost.', 'api.localhost'])(
    'refuses the loopback name %s',
    (name) => {
      const result = checkEndpointUrl(`http://${name}:3000/`, STRICT_URL);
      expect(result).toEqual({
        ok: false,
        message: expect.stringMatching(
          / is a loopback name; deliveries to private networks are disabled/,
        ),
      });
    },
  );

  it('refuses credentials in the URL, wherever the host points', () => {
    for (const url of [
      'http://user@127.0.0.1/',
      'https://user:pw@example.com/',
      'https://:pw@example.com/',
    ]) {
      const result = checkEndpointUrl(url, STRICT_URL);
      expect(result).toEqual({
        ok: false,
        message: expect.stringMatching(/^URLs with credentials \(user:password@host\) are refused/),
      });
    }
  });

  it('does not read an @ after the host as credentials into the host', () => {
    // WHATWG: everything before the last @ is userinfo, so the host is evil.example
    const result = checkEndpointUrl('http://127.0.0.1:80@evil.example/', STRICT_URL);
    expect(result).toEqual({ ok: false, message: expect.stringMatching(/credentials/) });
  });

  it('refuses http:// when https is required, and accepts https://', () => {
    const opts = { ...STRICT, requireHttps: true };
    expect(checkEndpointUrl('http://example.com/hook', opts)).toEqual({
      ok: false,
      message:
        'http:// endpoints are refused on this server; use an https:// URL (RIZLER_REQUIRE_HTTPS)',
    });
    expect(checkEndpointUrl('https://example.com/hook', opts).ok).toBe(true);
    expect(checkEndpointUrl('http://example.com/hook', STRICT_URL).ok).toBe(true);
  });

  it.each([
    'ftp://example.com/',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'ws://example.com/',
    'gopher://127.0.0.1:25/',
    'data:,x',
  ])('refuses the scheme of %s', (url) => {
    const result = checkEndpointUrl(url, STRICT_URL);
    expect(result).toEqual({
      ok: false,
      message: expect.stringMatching(/:\/\/ URLs cannot receive webhooks; use an https:\/\//),
    });
  });

  it.each([
    '',
    'example.com/hook',
    '/relative',
    'http://',
    'http://[::1/',
    'http://1.2.3.4.5/',
    'http://exa mple.com/',
  ])('refuses the malformed URL %j', (url) => {
    const result = checkEndpointUrl(url, STRICT_URL);
    expect(result).toEqual({ ok: false, message: expect.stringMatching(/is not a valid URL/) });
  });

  it('accepts private literals when private networks are allowed, and allowed networks', () => {
    expect(
      checkEndpointUrl('http://127.0.0.1:3000/', {
        allowPrivateNetworks: true,
        allowedNetworks: [],
        requireHttps: false,
      }).ok,
    ).toBe(true);
    expect(
      checkEndpointUrl('http://localhost:3000/', {
        allowPrivateNetworks: true,
        allowedNetworks: [],
        requireHttps: false,
      }).ok,
    ).toBe(true);
    const opened = {
      allowPrivateNetworks: false,
      allowedNetworks: ['10.0.0.0/8', '127.0.0.0/8'],
      requireHttps: false,
    };
    expect(checkEndpointUrl('http://10.1.2.3/', opened).ok).toBe(true);
    expect(checkEndpointUrl('http://localhost/', opened).ok).toBe(true);
    expect(checkEndpointUrl('http://192.168.0.1/', opened).ok).toBe(false);
  });
});

describe('BlockedAddressError', () => {
  it('keeps the host, the address and the reason, and tells only literal addresses', () => {
    const err = new BlockedAddressError('127.0.0.1', 'loopback', 'example.test');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('blocked_address');
    expect(err.address).toBe('127.0.0.1');
    expect(err.reason).toBe('loopback');
    expect(err.hostname).toBe('example.test');
    expect(err.message).toMatch(
      /^blocked: private address; deliveries to private networks are disabled/,
    );
    expect(err.message).not.toContain('127.0.0.1');
    expect(new BlockedAddressError('::ffff:7f00:1', 'IPv4-mapped loopback').message).toMatch(
      /^blocked: ::ffff:7f00:1 is an IPv4-mapped loopback address;/,
    );
  });
});
