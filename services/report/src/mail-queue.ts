import type { Kysely } from 'kysely';
import { outboxRepository, type Database } from '@panorama/db';
import { sealOutbox, type SecretKeys } from '@panorama/domain';
import { planJob } from '@panorama/jobs';
import type { TemplateData, TemplateName } from '@panorama/mail';

/**
 * Queues an email in the caller's transaction: the outbox row (payload sealed, since it may hold a link)
 * and the delivery job commit together with the change that caused them.
 */
export type QueuedMail = { [N in TemplateName]: { template: N; data: TemplateData[N] } }[TemplateName] & {
  organisationId: string | null;
  to: string;
  /** The cycle the email belongs to (invitations, reminders, nominations): the admin sees it there. */
  cycleId?: string;
  /** The invitations whose links it carries: a permanent refusal bounces these, and no others. */
  invitationIds?: readonly string[];
};

export async function queueMail(trx: Kysely<Database>, keys: SecretKeys, mail: QueuedMail): Promise<string> {
  const payload = sealOutbox(keys, JSON.stringify({ template: mail.template, data: mail.data }));
  const outboxId = await outboxRepository.queueEmail(trx, {
    organisationId: mail.organisationId,
    template: mail.template,
    toAddress: mail.to,
    payload,
    cycleId: mail.cycleId ?? null,
    invitationIds: mail.invitationIds ?? [],
  });
  await outboxRepository.queueJobs(trx, [planJob('deliver-email', { outboxId })]);
  return outboxId;
}
