// The operator's endpoint (SPEC §11), configured at start; what operational events say and how
// the engines store them is storage/operational-events.ts.
import type { Config } from '../config.js';
import type { SecretBox } from '../core/secret-box.js';
import type { Storage } from '../storage/types.js';

/**
 * Brings the operator's endpoint in line with the settings at start: created or updated (and
 * enabled) when RIZLER_OPERATOR_WEBHOOK_URL is set, disabled when it is not, so events stop
 * piling up for a URL nobody configures any more.
 */
export async function configureOperatorWebhook(
  storage: Storage,
  config: Pick<Config, 'operatorWebhookUrl' | 'operatorWebhookSecret'>,
  secrets: SecretBox,
  now: number,
): Promise<void> {
  const { operatorWebhookUrl: url, operatorWebhookSecret: secret } = config;
  await storage.configureOperatorWebhook(
    url === null || secret === null ? null : { url, sealedSecret: secrets.seal(secret) },
    now,
  );
}
