import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/**
 * A tiny browser for `app.inject`: keeps cookies between requests and fills in the CSRF token from the
 * last page it fetched, as a real form post would.
 */
export function webClient(app: FastifyInstance) {
  const cookies = new Map<string, string>();
  let csrf = '';
  const remember = (response: LightMyRequestResponse) => {
    for (const c of response.cookies) {
      if (c.value === '' || (c.expires && c.expires.getTime() < Date.now())) cookies.delete(c.name);
      else cookies.set(c.name, c.value);
    }
    const match = /name=["']_csrf["'] value=["']([^"']+)["']/.exec(response.body);
    if (match) csrf = match[1]!;
    return response;
  };
  const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  return {
    cookies,
    get csrf() {
      return csrf;
    },
    async get(url: string) {
      return remember(
        await app.inject({ method: 'GET', url, headers: { cookie: cookieHeader(), accept: 'text/html' } }),
      );
    },
    async post(
      url: string,
      form: Record<string, string | string[]> = {},
      options: { csrf?: string | false } = {},
    ) {
      const body = new URLSearchParams();
      const token = options.csrf === undefined ? csrf : options.csrf;
      if (token !== false) body.append('_csrf', token);
      for (const [k, v] of Object.entries(form)) for (const value of [v].flat()) body.append(k, value);
      return remember(
        await app.inject({
          method: 'POST',
          url,
          payload: body.toString(),
          headers: {
            cookie: cookieHeader(),
            accept: 'text/html',
            'content-type': 'application/x-www-form-urlencoded',
          },
        }),
      );
    },
  };
}
