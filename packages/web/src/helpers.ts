import type HandlebarsNamespace from 'handlebars';

/** Presentation-only helpers: formatting, never decisions (those live in view models). */
export function registerHelpers(handlebars: typeof HandlebarsNamespace): void {
  handlebars.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  handlebars.registerHelper('fixed', (value: unknown, digits: unknown) =>
    typeof value === 'number' && Number.isFinite(value)
      ? value.toFixed(typeof digits === 'number' ? digits : 2)
      : '–',
  );
  handlebars.registerHelper('date', (value: unknown) => {
    const d = value instanceof Date ? value : typeof value === 'string' ? new Date(value) : null;
    return d && !Number.isNaN(d.getTime())
      ? d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })
      : '';
  });
}
