/** Domain errors: services throw these; the web error handler alone turns them into HTTP statuses. */
export class DomainError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The thing does not exist, or the viewer has no right to know it exists (both answer 404). */
export class NotFoundError extends DomainError {}

/** Input that breaks a rule; `problems` say where and what, for the page or the CLI. */
export class ValidationError extends DomainError {
  constructor(
    message: string,
    readonly problems: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/** Signed in, but this role may not do this. */
export class ForbiddenError extends DomainError {}

/** The action clashes with the current state (a closed cycle, a spent link). */
export class ConflictError extends DomainError {}
