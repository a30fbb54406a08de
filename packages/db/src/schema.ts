import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

export type Relationship = 'self' | 'manager' | 'peer' | 'direct_report' | 'other';
export type Role = 'admin' | 'hr' | 'coach' | 'leader';
export type CycleStatus = 'draft' | 'open' | 'closed' | 'released';
export type CycleKind = 'baseline' | 'follow_up';
export type InvitationStatus =
  'nominated' | 'pending' | 'sent' | 'completed' | 'declined' | 'bounced' | 'cancelled';
export type NominationState = 'none' | 'open' | 'submitted' | 'approved';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** Postgres `date` columns come back as 'YYYY-MM-DD' strings (see the type parser in connection.ts). */
type DateOnly = ColumnType<string, string | undefined, string>;
type Json<T = unknown> = ColumnType<T, string, string>;

export interface OrganisationsTable {
  id: Generated<string>;
  name: string;
  slug: string;
  created_at: DefaultTimestamp;
}

export interface PeopleTable {
  id: Generated<string>;
  organisation_id: string;
  email: string;
  name: string;
  created_at: DefaultTimestamp;
}

export interface UserRolesTable {
  person_id: string;
  role: Role;
}

export interface SignInTokensTable {
  token_hash: Buffer;
  person_id: string;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: DefaultTimestamp;
}

export interface SessionsTable {
  id_hash: Buffer;
  person_id: string;
  created_at: DefaultTimestamp;
  expires_at: Timestamp;
}

export interface AuditLogTable {
  id: Generated<string>;
  organisation_id: string;
  actor_id: string | null;
  action: string;
  target_id: string | null;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
  at: DefaultTimestamp;
}

export interface InstrumentsTable {
  id: string;
  version: number;
  checksum: string;
  definition: Json;
  created_at: DefaultTimestamp;
}

export interface ProgrammesTable {
  id: Generated<string>;
  organisation_id: string;
  name: string;
  description: Generated<string>;
  created_at: DefaultTimestamp;
}

export interface CyclesTable {
  id: Generated<string>;
  programme_id: string;
  kind: CycleKind;
  name: string;
  instrument_id: string;
  instrument_version: number;
  status: ColumnType<CycleStatus, CycleStatus | undefined, CycleStatus>;
  closes_at: Timestamp;
  opened_at: Timestamp | null;
  closed_at: Timestamp | null;
  released_at: Timestamp | null;
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: DefaultTimestamp;
}

export interface SubjectsTable {
  id: Generated<string>;
  cycle_id: string;
  leader_id: string;
  coach_id: string | null;
  nomination: ColumnType<NominationState, NominationState | undefined, NominationState>;
  released_version: number | null;
  /** The profile version last shown to staff or released; later ones only under the re-release rule. */
  published_version: ColumnType<number | null, number | null | undefined, number | null>;
  created_at: DefaultTimestamp;
}

export interface InvitationsTable {
  id: Generated<string>;
  subject_id: string;
  rater_id: string;
  relationship: Relationship;
  status: ColumnType<InvitationStatus, InvitationStatus | undefined, InvitationStatus>;
  sent_at: Timestamp | null;
  reminded_at: Timestamp | null;
  completed_on: DateOnly | null;
  declined_at: Timestamp | null;
  bounce_reason: string | null;
  created_at: DefaultTimestamp;
}

export interface InvitationLinksTable {
  token_hash: Buffer;
  invitation_id: string;
  expires_at: Timestamp;
  created_at: DefaultTimestamp;
}

export interface NominationLinksTable {
  token_hash: Buffer;
  subject_id: string;
  expires_at: Timestamp;
  created_at: DefaultTimestamp;
}

export interface PendingCompletionsTable {
  invitation_id: string;
}

export interface SpentTokensTable {
  token_mac: Buffer;
  spent_on: DateOnly;
}

export interface ResponseDraftsTable {
  draft_mac: Buffer;
  ciphertext: Buffer;
  updated_on: DateOnly;
}

export interface ResponsesTable {
  id: string;
  cycle_id: string;
  subject_id: string;
  relationship: Relationship;
  submitted_on: DateOnly;
}

export interface ResponseRatingsTable {
  response_id: string;
  item_id: string;
  competency_id: string;
  /** null = "Can't say" (N/A). */
  value: number | null;
}

export interface ResponseCommentsTable {
  response_id: string;
  question_id: string;
  body: string;
}

interface ResultTable {
  id: Generated<string>;
  version: number;
  source_digest: string;
  data: Json;
  computed_at: DefaultTimestamp;
}

export interface ProfileSnapshotsTable extends ResultTable {
  subject_id: string;
  group_counts: Json<Partial<Record<Relationship, number>>>;
}

export interface ChangeResultsTable extends ResultTable {
  subject_id: string;
  baseline_subject_id: string;
}

export interface CohortResultsTable extends ResultTable {
  programme_id: string;
}

export interface ReleasesTable {
  id: Generated<string>;
  subject_id: string;
  profile_version: number;
  released_by: string | null;
  released_at: DefaultTimestamp;
}

export interface EmailOutboxTable {
  id: Generated<string>;
  organisation_id: string | null;
  template: string;
  to_address: string;
  payload: Buffer | null;
  status: ColumnType<'queued' | 'sent' | 'failed', 'queued' | undefined, 'queued' | 'sent' | 'failed'>;
  attempts: ColumnType<number, number | undefined, number>;
  /** A short code only (`SMTP 450 4.2.1`, `ECONNECTION`): never the server's text, which quotes the address. */
  last_error: string | null;
  created_at: DefaultTimestamp;
  sent_at: Timestamp | null;
  /** The cycle an invitation, reminder or nomination email belongs to; null for sign-in and report emails. */
  cycle_id: string | null;
  /** The invitations whose links the email carried: only these bounce when it is refused for good. */
  invitation_ids: ColumnType<string[], string[] | undefined, string[]>;
  /** Spells of temporary failure that outlasted a delivery job's retries. */
  rounds: ColumnType<number, number | undefined, number>;
  /** When the sweeper enqueues the next delivery spell of a delayed email. */
  retry_at: Timestamp | null;
}

export interface JobOutboxTable {
  id: Generated<string>;
  queue: string;
  name: string;
  job_id: string;
  data: Json<Record<string, unknown>>;
}

export interface Database {
  organisations: OrganisationsTable;
  people: PeopleTable;
  user_roles: UserRolesTable;
  sign_in_tokens: SignInTokensTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
  instruments: InstrumentsTable;
  programmes: ProgrammesTable;
  cycles: CyclesTable;
  subjects: SubjectsTable;
  invitations: InvitationsTable;
  invitation_links: InvitationLinksTable;
  nomination_links: NominationLinksTable;
  pending_completions: PendingCompletionsTable;
  spent_tokens: SpentTokensTable;
  response_drafts: ResponseDraftsTable;
  responses: ResponsesTable;
  response_ratings: ResponseRatingsTable;
  response_comments: ResponseCommentsTable;
  profile_snapshots: ProfileSnapshotsTable;
  change_results: ChangeResultsTable;
  cohort_results: CohortResultsTable;
  releases: ReleasesTable;
  email_outbox: EmailOutboxTable;
  job_outbox: JobOutboxTable;
}

export type Organisation = Selectable<OrganisationsTable>;
export type Person = Selectable<PeopleTable>;
export type NewPerson = Insertable<PeopleTable>;
export type Programme = Selectable<ProgrammesTable>;
export type Cycle = Selectable<CyclesTable>;
export type CycleUpdate = Updateable<CyclesTable>;
export type Subject = Selectable<SubjectsTable>;
export type Invitation = Selectable<InvitationsTable>;
export type NewInvitation = Insertable<InvitationsTable>;
export type Response = Selectable<ResponsesTable>;
export type ProfileSnapshot = Selectable<ProfileSnapshotsTable>;
