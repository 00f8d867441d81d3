// `rizler-webhooks trigger EVENT [--data file.json]`: publish the catalogue example of a type
// (or the given data) to the account, like `stripe trigger`.
import { readFile } from 'node:fs/promises';
import { ApiClient, CliError, clientSettings } from './api-client.js';
import type { Io } from './io.js';

export interface TriggerOptions {
  /** A file holding the event's `data`, a JSON object. */
  data?: string;
  json?: boolean;
}

interface CatalogueEntry {
  name: string;
  example: Record<string, unknown>;
}

interface Published {
  id: string;
  event: string;
  timestamp: string;
  deliveries: number;
}

async function readData(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read --data file "${file}": ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new CliError(`--data file "${file}" is not valid JSON: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new CliError(`--data file "${file}" must hold a JSON object: the event's data`);
  }
  return data as Record<string, unknown>;
}

export async function trigger(eventType: string, options: TriggerOptions, io: Io): Promise<void> {
  const client = new ApiClient(clientSettings());
  // The server's catalogue, not this package's: the server may be a newer version.
  const catalogue = await client.call<{ data: CatalogueEntry[] }>('GET', '/v1/event-types');
  const type = catalogue.data.find((t) => t.name === eventType);
  if (!type) {
    throw new CliError(
      `unknown event type "${eventType}". Known types:\n  ${catalogue.data.map((t) => t.name).join('\n  ')}`,
    );
  }
  const data = options.data === undefined ? type.example : await readData(options.data);
  const published = await client.call<Published>('POST', '/v1/events', {
    event: eventType,
    data,
  });
  const n = published.deliveries;
  io.out(
    options.json
      ? JSON.stringify(published)
      : `Published ${published.event} as ${published.id}: ${n} ${n === 1 ? 'delivery' : 'deliveries'} queued.`,
  );
  if (n === 0) {
    io.err(
      `No enabled webhook subscribes to ${eventType}; \`rizler-webhooks listen\` still receives it.`,
    );
  }
}
