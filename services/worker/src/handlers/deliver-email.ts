import { bounceRepository, outboxRepository, type Db } from '@panorama/db';
import { openOutbox, type SecretKeys } from '@panorama/domain';
import { jobCatalog, type JobHandlers } from '@panorama/jobs';
import {
  isTemplateName,
  PermanentMailError,
  renderEmail,
  type Mailer,
  type RenderedEmail,
  type TemplateData,
  type TemplateName,
} from '@panorama/mail';
import type { Logger } from 'pino';

export interface DeliverEmailDeps {
  db: Db;
  keys: Pick<SecretKeys, 'outbox'>;
  mailer: Pick<Mailer, 'send'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Attempts BullMQ makes before giving up; the last failed one marks the email failed. */
  maxAttempts?: number;
}

const ATTEMPTS = jobCatalog['deliver-email'].options.attempts;

/**
 * Sends one queued email. An email already sent or failed is left alone, so a repeated job sends nothing.
 * A permanent failure (5xx, bad address) marks it failed and the rater's open invitations of that
 * organisation bounced, and is not retried; any other failure is counted and rethrown for BullMQ to retry
 * with backoff. Logs carry the outbox id and template only: never an address, a link or the payload.
 */
export function createDeliverEmail(deps: DeliverEmailDeps): JobHandlers['deliver-email'] {
  const { db } = deps;
  const maxAttempts = deps.maxAttempts ?? ATTEMPTS;
  return async ({ outboxId }, context) => {
    const row = await outboxRepository.findEmail(db, outboxId);
    if (!row || row.status !== 'queued') return;

    let message: RenderedEmail;
    try {
      if (!row.payload) throw new Error('the payload is gone');
      const { template, data } = JSON.parse(openOutbox(deps.keys as SecretKeys, row.payload)) as {
        template: string;
        data: unknown;
      };
      if (!isTemplateName(template)) throw new Error('unknown template');
      message = renderEmail(template, data as TemplateData[TemplateName]);
    } catch (error) {
      // Retrying cannot open or render it any better. The error text may quote the data, so it is not kept.
      await outboxRepository.recordEmailAttempt(
        db,
        outboxId,
        `could not open or render the email (${(error as Error).name})`,
        true,
      );
      deps.logger.warn({ outboxId, template: row.template }, 'email could not be rendered; marked failed');
      return;
    }

    try {
      await deps.mailer.send({ to: row.to_address, ...message });
    } catch (error) {
      const reason = (error as Error).message;
      if (error instanceof PermanentMailError) {
        await db.transaction().execute(async (trx) => {
          await outboxRepository.recordEmailAttempt(trx, outboxId, reason, true);
          if (row.organisation_id) {
            await bounceRepository.markBounced(trx, {
              organisationId: row.organisation_id,
              address: row.to_address,
              reason,
            });
          }
        });
        deps.logger.warn({ outboxId, template: row.template }, 'email rejected permanently; marked failed');
        return;
      }
      const last = context.attempt >= maxAttempts;
      await outboxRepository.recordEmailAttempt(db, outboxId, reason, last);
      deps.logger.warn(
        { outboxId, template: row.template, attempt: context.attempt, last },
        last ? 'email failed on its last attempt; marked failed' : 'email failed; will retry',
      );
      throw error;
    }
    await outboxRepository.markEmailSent(db, outboxId);
    deps.logger.info({ outboxId, template: row.template }, 'email sent');
  };
}
