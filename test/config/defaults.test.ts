// Every default SPEC §1 (configuration) and §7 (limits) promises, loaded from an empty
// environment: nothing set, nothing inherited from the machine running the tests.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_THROTTLE } from '../../src/storage/throttle.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('the configuration from an empty environment', () => {
  const config = loadConfig({});

  it('has every default of SPEC §1', () => {
    expect(config).toMatchObject({
      port: 8080,
      databaseUrl: 'sqlite:./data/rizler-webhooks.db',
      adminToken: null,
      retryScheduleMs: [1 * MINUTE, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 6 * HOUR],
      deliveryTimeoutMs: 10_000,
      allowPrivateNetworks: false,
      maxEndpoints: 10,
      apiRateLimit: 1000,
      endpointRateLimit: 1000,
      publishRateLimit: null,
      runWorker: true,
      allowedNetworks: [],
      requireHttps: false,
      encryptionKey: null,
      retentionDays: 30,
      autoDisableAfterMs: 24 * HOUR,
    });
  });

  it('has the limits of SPEC §7 and the lease of §4', () => {
    expect(config.maxEndpoints).toBe(10); // endpoints per account
    expect(config.apiRateLimit).toBe(1000); // management API requests per minute
    expect(config.endpointRateLimit).toBe(1000); // deliveries per minute per endpoint
    expect(config.retryScheduleMs).toHaveLength(5); // automatic retries
    expect(config.deliveryTimeoutMs).toBe(10_000); // attempt timeout
    expect(config.leaseMs).toBeLessThanOrEqual(60_000); // a dead worker's delivery within 60 s
  });

  it('reads an empty variable as unset', () => {
    expect(
      loadConfig({ PORT: '', RIZLER_RETENTION_DAYS: '', RIZLER_PUBLISH_RATE_LIMIT: '' }),
    ).toMatchObject({ port: 8080, retentionDays: 30, publishRateLimit: null });
  });

  it('claims 64 at a time on SQLite and 256 on PostgreSQL, unless told', () => {
    expect(config.claimBatchSize).toBe(64);
    expect(loadConfig({ RIZLER_DATABASE_URL: 'postgres://u@db:5432/w' }).claimBatchSize).toBe(256);
    expect(
      loadConfig({ RIZLER_DATABASE_URL: 'postgresql://u@db/w', RIZLER_CLAIM_BATCH: '32' })
        .claimBatchSize,
    ).toBe(32);
  });

  it('lets 256 attempts be in flight to an endpoint, and the throttle grows back to that', () => {
    expect(config.maxInFlightPerEndpoint).toBe(256);
    // a storage used without the worker's settings (the CLI, a test) applies the same cap
    expect(DEFAULT_THROTTLE.maxConcurrency).toBe(256);
    expect(loadConfig({ RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT: '16' }).maxInFlightPerEndpoint).toBe(16);
  });

  it('bounds the attempts in flight to one origin by six times the connections or twice the claim', () => {
    expect(config.maxInFlightPerOrigin).toBe(384);
    const pg = 'postgres://u@db:5432/w';
    expect(loadConfig({ RIZLER_DATABASE_URL: pg }).maxInFlightPerOrigin).toBe(512);
    expect(loadConfig({ RIZLER_CONNECTIONS_PER_ORIGIN: '100' }).maxInFlightPerOrigin).toBe(600);
    expect(
      loadConfig({ RIZLER_DATABASE_URL: pg, RIZLER_MAX_IN_FLIGHT_PER_ORIGIN: '16' })
        .maxInFlightPerOrigin,
    ).toBe(16);
    expect(() => loadConfig({ RIZLER_MAX_IN_FLIGHT_PER_ORIGIN: '0' })).toThrow(
      'RIZLER_MAX_IN_FLIGHT_PER_ORIGIN must be a whole number of at least 1',
    );
  });
});
