import type { Cycle, InvitationStatus, Programme, Relationship } from '@panorama/db';

const RELATIONSHIP_LABEL: Record<Relationship, string> = {
  self: 'Self',
  manager: 'Manager',
  peer: 'Peer',
  direct_report: 'Direct report',
  other: 'Other',
};

const STATUS_LABEL: Record<InvitationStatus, string> = {
  nominated: 'Nominated',
  pending: 'Not sent yet',
  sent: 'Invited',
  completed: 'Responded',
  declined: 'Declined',
  bounced: 'Email bounced',
  cancelled: 'Cancelled',
};

const CYCLE_STATUS: Record<Cycle['status'], string> = {
  draft: 'Draft — add raters, then open',
  open: 'Open — collecting responses',
  closed: 'Closed',
  released: 'Released',
};

const day = (d: Date) => d.toISOString().slice(0, 10);

export function adminProgrammesView(programmes: Programme[], cycles: Cycle[][]) {
  return {
    programmes: programmes.map((p, i) => ({
      name: p.name,
      description: p.description,
      cycles: (cycles[i] ?? []).map((c) => ({
        href: `/admin/cycles/${c.id}`,
        name: c.name,
        status: CYCLE_STATUS[c.status],
        closes: day(c.closes_at),
      })),
    })),
    empty: programmes.length === 0,
  };
}

interface SubjectRow {
  id: string;
  leader_name: string;
  leader_email: string;
  coach_name: string | null;
  nomination?: 'none' | 'open' | 'submitted' | 'approved';
}

const EMAIL_KIND: Record<string, string> = {
  invitation: 'invitation',
  reminder: 'reminder',
  nomination: 'nomination link',
};

interface InvitationRow {
  subject_id: string;
  relationship: Relationship;
  status: InvitationStatus;
  rater_name: string;
  rater_email: string;
  bounce_reason: string | null;
}

/**
 * The admin's view of a cycle. Admins see who has responded (they chase non-responders); these names never
 * reach a coach's or leader's page, which show counts per group only.
 */
export function adminCycleView(input: {
  cycle: Cycle & { programme_name: string };
  subjects: SubjectRow[];
  invitations: InvitationRow[];
  /** This cycle's emails refused for good. */
  bounced: { to_address: string; template: string; last_error: string | null }[];
  /** This cycle's emails still waiting after failed attempts (the mail server is refusing or unreachable). */
  delayed?: { count: number; lastError: string | null };
}) {
  const { cycle } = input;
  const bySubject = new Map<string, InvitationRow[]>();
  for (const i of input.invitations) bySubject.set(i.subject_id, [...(bySubject.get(i.subject_id) ?? []), i]);
  const counts = { invited: 0, completed: 0, declined: 0, bounced: 0 };
  for (const i of input.invitations) {
    if (i.status !== 'nominated' && i.status !== 'cancelled') counts.invited++;
    if (i.status === 'completed') counts.completed++;
    if (i.status === 'declined') counts.declined++;
    if (i.status === 'bounced') counts.bounced++;
  }
  return {
    cycle: {
      id: cycle.id,
      name: cycle.name,
      programme: cycle.programme_name,
      status: CYCLE_STATUS[cycle.status],
      closes: day(cycle.closes_at),
      kind: cycle.kind === 'baseline' ? 'Baseline' : 'Follow-up',
    },
    counts,
    responseRate: counts.invited > 0 ? Math.round((100 * counts.completed) / counts.invited) : 0,
    canImport: cycle.status === 'draft' || cycle.status === 'open',
    canOpen: cycle.status === 'draft' && input.subjects.length > 0,
    canRemind: cycle.status === 'open',
    canClose: cycle.status === 'open',
    leaders: input.subjects.map((s) => ({
      id: s.id,
      name: s.leader_name,
      email: s.leader_email,
      coach: s.coach_name ?? '—',
      // A leader asked to nominate can be sent a new link (the email may have been lost or deleted).
      canResendNomination:
        s.nomination !== undefined &&
        s.nomination !== 'none' &&
        (cycle.status === 'draft' || cycle.status === 'open'),
      raters: (bySubject.get(s.id) ?? []).map((i) => ({
        name: i.rater_name,
        email: i.rater_email,
        relationship: RELATIONSHIP_LABEL[i.relationship],
        status: STATUS_LABEL[i.status],
        done: i.status === 'completed',
        problem: i.status === 'bounced' || i.status === 'declined',
        reason: i.status === 'bounced' ? i.bounce_reason : null,
      })),
    })),
    bounced: input.bounced.map((b) => ({
      to: b.to_address,
      kind: EMAIL_KIND[b.template] ?? 'email',
      error: b.last_error ?? 'rejected by the mail server',
    })),
    delayed:
      input.delayed && input.delayed.count > 0
        ? { count: input.delayed.count, error: input.delayed.lastError ?? 'no answer from the mail server' }
        : undefined,
  };
}
