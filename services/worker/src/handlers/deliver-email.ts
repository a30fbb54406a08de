import { bounceRepository, outboxRepository, type Db } from '@panorama/db';
import { openOutbox, type SecretKeys } from '@panorama/domain';
import { jobCatalog, type JobHandlers } from '@panorama/jobs';
import {
  isTemplateName,
  mailErrorCode,
  PermanentMailError,
  renderEmail,
  TemporaryMailError,
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
  /**
   * Attempts of one delivery job (a "spell") before the email is set aside for the sweeper; at most the
   * catalog's attempts, which is the default.
   */
  maxAttempts?: number;
  /** How long an email waits after its `spell`-th spell of temporary failures (default `retryDelayMs`). */
  retryDelayMs?: (spell: number) => number;
  now?: () => Date;
}

const ATTEMPTS = jobCatalog['deliver-email'].options.attempts;

/**
 * The wait after a spell of temporary failures: 5 minutes after the first, doubling up to an hour. The
 * job's own retries (about 17 minutes) come first, so an outage is retried quickly at first, then hourly
 * for as long as it lasts.
 */
export function retryDelayMs(spell: number): number {
  return Math.min(5 * 60_000 * 2 ** Math.max(0, spell - 1), 60 * 60_000);
}

/**
 * Sends one queued email. An email already sent or failed is left alone, so a repeated job sends nothing.
 *
 * - A permanent failure (5xx, bad address) marks it failed and the invitations it carried bounced (none for
 *   a sign-in or report email), and is not retried.
 * - A temporary failure is counted and rethrown for BullMQ to retry with backoff. The last attempt of the
 *   job does not fail it: the email stays queued with a `retry_at`, and the sweeper enqueues a new job (a
 *   new spell, under a new job id) then. An outage of any length delays the email; none loses it.
 *
 * Only error codes are stored, logged or rethrown (`SMTP 450 4.1.2`, `ECONNECTION`): the server's text
 * quotes the address. Logs carry the outbox id and template only: never an address, a link or the payload.
 */
export function createDeliverEmail(deps: DeliverEmailDeps): JobHandlers['deliver-email'] {
  const { db } = deps;
  const maxAttempts = Math.min(deps.maxAttempts ?? ATTEMPTS, ATTEMPTS);
  const delay = deps.retryDelayMs ?? retryDelayMs;
  const now = deps.now ?? (() => new Date());
  return async ({ outboxId }, context) => {
    const row = await outboxRepository.findEmail(db, outboxId);
    if (!row || row.status !== 'queued') return;
    // Set aside until its next spell: a stray job of an earlier spell does not jump the wait.
    if (row.retry_at && row.retry_at.getTime() > now().getTime()) return;

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
        { kind: 'failed' },
      );
      deps.logger.warn({ outboxId, template: row.template }, 'email could not be rendered; marked failed');
      return;
    }

    try {
      await deps.mailer.send({ to: row.to_address, ...message });
    } catch (error) {
      const code = mailErrorCode(error);
      if (error instanceof PermanentMailError) {
        await db.transaction().execute(async (trx) => {
          await outboxRepository.recordEmailAttempt(trx, outboxId, code, { kind: 'failed' });
          await bounceRepository.markBounced(trx, { invitationIds: row.invitation_ids, reason: code });
        });
        deps.logger.warn(
          { outboxId, template: row.template, code },
          'email rejected permanently; marked failed',
        );
        return;
      }
      if (context.attempt >= maxAttempts) {
        const spell = row.rounds + 1;
        const retryAt = new Date(now().getTime() + delay(spell));
        await outboxRepository.recordEmailAttempt(db, outboxId, code, { kind: 'later', retryAt });
        deps.logger.warn(
          { outboxId, template: row.template, code, attempt: context.attempt, spell, retryAt },
          'email still failing after its retries; kept queued for the sweeper to try again',
        );
        return;
      }
      await outboxRepository.recordEmailAttempt(db, outboxId, code, { kind: 'retry' });
      deps.logger.warn(
        { outboxId, template: row.template, code, attempt: context.attempt },
        'email failed; will retry',
      );
      // Rethrown as its code only: BullMQ keeps the message as the job's failure reason, in Redis.
      throw new TemporaryMailError(code);
    }
    await outboxRepository.markEmailSent(db, outboxId);
    deps.logger.info({ outboxId, template: row.template }, 'email sent');
  };
}
